"""Franchise grouping: which catalog items are instalments of one series.

Neither source gives a franchise id (the ``collection`` column is null in both real datasets),
so items are grouped from their titles, with provider evidence for the riskier merges:

1. **Title stem** (:func:`title_stem`): the title lower-cased without accents, cut at the
   first subtitle separator (``:``, `` - ``, ``(``), at a release-form marker (``movie``,
   ``ova``, ``specials``, ``season``, ``2nd season``, ``part``, ``chapter``, ``recap``,
   ``picture drama``...), at ``X and the Y`` when ``X`` has two words or more ("Harry Potter and
   the ..."), and stripped of trailing sequel numbers, roman numerals and apostrophes
   ("Toy Story 3", "Rocky II", "Gintama'"). Items with the same stem are one franchise:
   "Naruto", "Naruto: Shippuuden" and "Naruto Movie 1: ..." all stem to ``naruto``.
2. **Stem prefix + evidence**: a stem that starts with another stem's words ("dragon ball z"
   after "dragon ball", "shrek the third" after "shrek") joins it only with evidence: the two
   groups share a production company or studio *and*, where both have TMDB keywords, a
   keyword ("dc comics"); or an item of the longer one carries TMDB's ``sequel`` keyword and
   they share a genre. The prefix must be two words or one word of 5+ characters. This keeps
   "Alien Zone" out of "Alien" and "Fantastic Mr. Fox" out of "Fantastic 4" while "Dragon
   Ball GT" joins "Dragon Ball" and "Batman Begins" joins "Batman".
3. **Subtitle names a series**: "The Last: Naruto the Movie" and "Boruto: Naruto the Movie"
   join ``naruto`` when the subtitle is a release form ("... the Movie", "... OVA") of an
   existing stem and a company or studio is shared.
4. **Provider collection**: items sharing a non-null ``collection`` (TMDB's collection when a
   provider supplies one) are one franchise whatever their titles.

Known misses, by design (a false merge hides a good result, a miss only shows a sequel):
titles with nothing in common ("Fast Five" vs "The Fast and the Furious", "Neon Genesis
Evangelion" vs "Evangelion: 1.0"), and alternative titles are not used.

:func:`franchise_table` is the inspectable result: one row per item with its stem, franchise
key, franchise name and size, and the rule that put it there.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict

import pandas as pd

_SEPARATOR = re.compile(r"\s*(?::|\s[-\u2013\u2014]\s|\(|\[|\uff1a)")
_MARKER = re.compile(
    r"\s\b(?:the movie|movie|movies|gekijouban|ova|ovas|oad|oads|ona|specials?|recaps?"
    r"|picture drama|(?:first|second|third|fourth|fifth|final)\s+season|season"
    r"|\d+(?:st|nd|rd|th)\s+(?:season|stage|gig|series)|part|chapter|episode|vol|volume"
    r"|tv|the animation)\b.*$"
)
_AND_THE = re.compile(r"^(?P<head>.+?)\s(?:and|&)\sthe\s.+$")
_TRAILING = re.compile(r"(?:\s+(?:\d+(?:\.\d+)?|ii|iii|iv|v|vi|vii|viii|ix|x|xi|xii))+$")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_MIN_PREFIX_CHARS = 5


@functools.lru_cache(maxsize=1 << 16)  # each title is lowered 3-4 times per table
def _ascii_lower(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def _words(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.replace("'", "").replace("\u2019", "")).split())


def subtitle_stem(title: str) -> str | None:
    """The stem named by a title's subtitle when the subtitle is a release form of another
    series ("The Last: Naruto the Movie" -> ``naruto``), else None."""
    parts = _SEPARATOR.split(_ascii_lower(title), maxsplit=1)
    if len(parts) < 2:
        return None
    sub = _words(parts[1])
    cut = _MARKER.sub("", f" {sub}").strip()
    if not cut or cut == sub:
        return None
    return _TRAILING.sub("", cut).strip() or cut


def title_stem(title: str) -> str:
    """The franchise stem of one title (see the module docstring); never empty."""
    text = _ascii_lower(title)
    full = _words(text)
    cut = _SEPARATOR.split(text, maxsplit=1)[0]
    stem = _words(cut) or full
    stem = _MARKER.sub("", f" {stem}").strip() or stem
    match = _AND_THE.match(stem)
    if match and len(match["head"].removeprefix("the ").split()) >= 2:
        stem = match["head"]
    shorter = _TRAILING.sub("", stem).strip()
    return shorter or stem or full or title.strip().lower()


_MARKER_ANY_CASE = re.compile(_MARKER.pattern, re.IGNORECASE)
_TRAILING_ANY_CASE = re.compile(_TRAILING.pattern, re.IGNORECASE)


def series_name(title: str, stem: str) -> str:
    """The series name inside a member's ``title``, as written there: the title cut at its
    subtitle, release-form marker or sequel number when what is left spells ``stem``
    ("Aoki Hagane no Arpeggio: Ars Nova" -> "Aoki Hagane no Arpeggio"); else ``title``."""
    cut = _SEPARATOR.split(title, maxsplit=1)[0].strip()
    for candidate in (title.strip(), cut, _MARKER_ANY_CASE.sub("", f" {cut}").strip()):
        for name in (candidate, _TRAILING_ANY_CASE.sub("", candidate).strip()):
            if name and _words(_ascii_lower(name)) == stem:
                return name
    return title


class _UnionFind:
    """Union-find over stems; the root with more items (then the shorter stem) names the
    merged franchise."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.parent = {k: k for k in sizes}
        self.size = dict(sizes)

    def find(self, key):
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a, b) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        keep, drop = sorted((ra, rb), key=lambda s: (-self.size[s], len(s), s))
        self.parent[drop] = keep
        self.size[keep] += self.size[drop]
        return True


def _lower_set(values) -> set[str]:
    return {str(v).strip().lower() for v in values if str(v).strip()}


def _distinctive(prefix: str) -> bool:
    """A prefix specific enough to suggest a series: two words, or one of 5+ characters,
    not counting a leading article."""
    words = prefix.removeprefix("the ").removeprefix("a ").split()
    return len(words) >= 2 or (len(words) == 1 and len(words[0]) >= _MIN_PREFIX_CHARS)


def franchise_table(items: pd.DataFrame) -> pd.DataFrame:
    """One row per item: item_id, title, stem, franchise (key), franchise_name,
    franchise_size and rule (``title``, ``prefix+company``, ``prefix+sequel``,
    ``subtitle+company``, ``collection``: how the item's stem joined the franchise; ``title``
    for the root). The franchise name is the earliest (then shortest) title of the root
    stem's items, a title that is the stem itself first ("Break Blade" before "Break Blade
    Picture Drama", whatever their years)."""
    titles = items["title"].tolist()
    stems = [title_stem(t) for t in titles]
    by_stem: dict[str, list[int]] = defaultdict(list)
    for row, stem in enumerate(stems):
        by_stem[stem].append(row)

    def merged(column: str) -> dict[str, set[str]]:
        values = items[column].tolist() if column in items else [()] * len(items)
        return {s: set().union(*(_lower_set(values[r]) for r in rows))
                for s, rows in by_stem.items()}

    companies, keywords, genres = merged("companies"), merged("keywords"), merged("genres")
    uf = _UnionFind({stem: len(rows) for stem, rows in by_stem.items()})
    rule = dict.fromkeys(by_stem, "title")
    for stem in sorted(by_stem, key=len):
        words = stem.split()
        for n in range(len(words) - 1, 0, -1):
            prefix = " ".join(words[:n])
            if prefix not in by_stem or not _distinctive(prefix):
                continue
            same_topic = (keywords[prefix] & keywords[stem] - {"sequel"}
                          if keywords[prefix] and keywords[stem] else True)
            if companies[prefix] & companies[stem] and same_topic:
                why = "prefix+company"
            elif "sequel" in keywords[stem] and genres[prefix] & genres[stem]:
                why = "prefix+sequel"
            else:
                continue
            if uf.union(prefix, stem):
                rule[stem] = why
            break
    for row, title in enumerate(titles):
        named = subtitle_stem(title)
        stem = stems[row]
        if (named and named != stem and named in by_stem and _distinctive(named)
                and companies[named] & companies[stem] and uf.union(named, stem)):
            rule[stem] = "subtitle+company"
    if "collection" in items.columns:
        by_collection: dict[str, list[str]] = defaultdict(list)
        for row, value in enumerate(items["collection"]):
            if isinstance(value, str) and value.strip():
                by_collection[value.strip().lower()].append(stems[row])
        for members in by_collection.values():
            for other in members[1:]:
                if uf.union(members[0], other):
                    rule[other] = "collection"
    keys = [uf.find(s) for s in stems]
    table = pd.DataFrame({
        "item_id": items["item_id"].to_numpy(), "title": items["title"].to_numpy(),
        "stem": stems, "franchise": keys, "rule": [rule[s] for s in stems],
    })
    table["franchise_size"] = table.groupby("franchise")["item_id"].transform("size")
    years = items["year"].astype("Float64").fillna(9999).to_numpy() if "year" in items else 0
    # the series' own title ("Break Blade") before a member's ("Break Blade Picture Drama")
    bare = [_words(_ascii_lower(t)).removeprefix("the ") != k.removeprefix("the ")
            for t, k in zip(titles, keys, strict=True)]
    ranked = table.assign(_root=table["stem"] != table["franchise"], _bare=bare,
                          _len=table["title"].str.len(), _year=years)
    name = (ranked.sort_values(["franchise", "_root", "_bare", "_year", "_len", "item_id"])
            .drop_duplicates("franchise").set_index("franchise")["title"])
    table["franchise_name"] = table["franchise"].map(
        {key: series_name(title, key) for key, title in name.items()})
    return table[["item_id", "title", "stem", "franchise", "franchise_name", "franchise_size",
                  "rule"]]
