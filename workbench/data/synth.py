"""A realistic synthetic dataset of any size, written as an ordinary own dataset (Parquet files
and a spec), for scale tests and the scale benchmark (``workbench data synth``).

What makes it realistic enough to measure models and search on:

- **Taste clusters.** Each item belongs to one of ``clusters`` themes; a theme has genres and
  a vocabulary (:data:`THEMES`), and an item's title and plot are drawn from it (plus common
  words), so a free-text query in a theme's words finds that theme's items and the
  content-aware models have something to learn.
- **Zipf item popularity** (exponent :data:`ZIPF_EXPONENT`) within and across themes, and
  **heavy-tailed user activity** (log-normal, at least :data:`MIN_PER_USER` interactions).
- **Users prefer one theme**: a share :data:`IN_THEME` of a user's interactions fall in it,
  and ratings (1-5 stars) are high there and low elsewhere, plus a per-item quality; so
  collaborative models can beat popularity.
- **Timestamps** grow through each user's history (leave-last-out is temporal).

Everything is generated with NumPy and pyarrow, vectorised (about 20 s for 1M items and 10M
interactions on 2 cores). Repeated (user, item) draws are dropped, so a dataset has slightly
fewer interactions than asked (the summary says how many).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from workbench import WorkbenchError
from workbench.data.spec import NAME_PATTERN
from workbench.storage import atomic_path, write_text

THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "space": (("Science Fiction", "Adventure"),
              ("starship", "galaxy", "alien", "orbit", "planet", "colony", "warp", "comet",
               "nebula", "astronaut", "android", "station")),
    "romance": (("Romance", "Drama"),
                ("love", "wedding", "heart", "kiss", "letters", "summer", "longing", "dance",
                 "promise", "reunion", "bride", "sweetheart")),
    "horror": (("Horror",),
               ("haunted", "ghost", "curse", "blood", "shadow", "scream", "crypt", "demon",
                "midnight", "ritual", "possessed", "graveyard")),
    "comedy": (("Comedy",),
               ("prank", "awkward", "party", "mistaken", "chaos", "roommate", "joke",
                "clumsy", "karaoke", "wacky", "hilarious", "blunder")),
    "crime": (("Crime", "Thriller"),
              ("detective", "murder", "heist", "gangster", "police", "witness", "alibi",
               "smuggler", "ransom", "cartel", "corrupt", "informant")),
    "war": (("War", "History"),
            ("soldier", "battle", "trench", "general", "invasion", "regiment", "siege",
             "bomber", "resistance", "frontline", "sniper", "armistice")),
    "western": (("Western",),
                ("sheriff", "outlaw", "saloon", "frontier", "cattle", "ranch", "gunslinger",
                 "stagecoach", "bandit", "canyon", "posse", "bounty")),
    "fantasy": (("Fantasy", "Adventure"),
                ("dragon", "wizard", "kingdom", "sword", "quest", "elf", "sorcerer", "castle",
                 "prophecy", "enchanted", "dungeon", "amulet")),
    "sports": (("Drama",),
               ("championship", "coach", "team", "stadium", "underdog", "rookie", "trophy",
                "tournament", "boxer", "marathon", "league", "comeback")),
    "music": (("Music", "Drama"),
              ("band", "concert", "singer", "guitar", "album", "tour", "melody", "stage",
               "orchestra", "drummer", "rockstar", "audition")),
    "ocean": (("Adventure",),
              ("submarine", "shipwreck", "island", "pirate", "treasure", "reef", "storm",
               "sailor", "lighthouse", "whale", "voyage", "harbor")),
    "time": (("Science Fiction", "Thriller"),
             ("time", "travel", "paradox", "timeline", "future", "past", "loop", "machine",
              "century", "rewind", "clockwork", "chronicle")),
    "school": (("Comedy", "Drama"),
               ("school", "teacher", "exam", "graduation", "classmate", "prom", "campus",
                "homework", "locker", "principal", "semester", "yearbook")),
    "family": (("Family", "Animation"),
               ("puppy", "grandma", "holiday", "toy", "magic", "forest", "talking", "friend",
                "adventure", "village", "bear", "cookie")),
    "spy": (("Action", "Thriller"),
            ("spy", "agent", "mission", "secret", "embassy", "double", "cipher", "traitor",
             "satellite", "extraction", "assassin", "dossier")),
    "disaster": (("Action", "Drama"),
                 ("earthquake", "volcano", "flood", "tsunami", "meteor", "evacuation",
                  "collapse", "rescue", "blizzard", "wildfire", "tornado", "survivor")),
}
COMMON_WORDS = ("a", "the", "young", "old", "city", "family", "secret", "journey", "night",
                "life", "world", "stranger", "friend", "home", "lost", "final")
ZIPF_EXPONENT = 0.9
IN_THEME = 0.8
MIN_PER_USER = 3
TOP_UPS = 4
"""Rounds of drawing again for repeated (user, item) pairs."""
PLOT_WORDS = 14
"""Words in a plot: ten from the item's theme, four common ones."""


class SynthError(WorkbenchError):
    """Impossible sizes for a synthetic dataset."""


@dataclass(frozen=True)
class SynthSize:
    """How big a synthetic dataset is."""

    items: int
    users: int
    interactions: int
    seed: int = 0
    clusters: int = len(THEMES)

    def check(self) -> None:
        """One line naming what is impossible, before anything is generated."""
        if self.items < 10 or self.users < 2:
            raise SynthError(f"synthetic data needs at least 10 items and 2 users (got "
                             f"{self.items} items, {self.users} users)")
        if self.interactions < MIN_PER_USER * self.users:
            raise SynthError(f"--interactions {self.interactions} is too few for "
                             f"{self.users} users (at least {MIN_PER_USER} each: "
                             f"{MIN_PER_USER * self.users})")
        if self.interactions > self.users * self.items // 2:
            raise SynthError(f"--interactions {self.interactions} is more than half of all "
                             f"user-item pairs ({self.users} x {self.items}); ask for fewer")
        if not 1 <= self.clusters <= len(THEMES):
            raise SynthError(f"clusters must be 1-{len(THEMES)} (got {self.clusters})")


def _zipf_weights(n: int, rng: np.random.Generator) -> np.ndarray:
    """Popularity weights 1/rank^a over ``n`` items in a random order, summing to 1."""
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** ZIPF_EXPONENT
    rng.shuffle(weights)
    return weights / weights.sum()


def _join_words(words: np.ndarray) -> pa.Array:
    """Rows of a 2-d array of words joined by spaces (pyarrow, vectorised)."""
    values = pa.array(words.ravel(), type=pa.large_string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    lists = pa.LargeListArray.from_arrays(
        np.arange(0, words.size + 1, words.shape[1], dtype=np.int64), values)
    return pc.cast(pc.binary_join(lists, pa.scalar(" ", pa.large_string())), pa.string())


def items_table(size: SynthSize, rng: np.random.Generator
                ) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray]:
    """The catalog (item_id, title, plot, genres, year, runtime, popularity, votes), and each
    item's theme, quality (a rating offset) and popularity weight."""
    names = list(THEMES)[: size.clusters]
    n = size.items
    theme = rng.integers(0, len(names), n)
    vocab = np.array([THEMES[name][1] for name in names])  # themes x 12 words
    picks = vocab[theme[:, None], rng.integers(0, vocab.shape[1], (n, PLOT_WORDS - 4))]
    common = np.array(COMMON_WORDS)[rng.integers(0, len(COMMON_WORDS), (n, 4))]
    plot = pc.utf8_capitalize(pc.binary_join_element_wise(
        _join_words(np.concatenate([common[:, :2], picks, common[:, 2:]], axis=1)), ".", ""))
    first, second = (pc.utf8_capitalize(pa.array(vocab[theme, rng.integers(
        0, vocab.shape[1], n)], type=pa.string())) for _ in range(2))
    title = pc.binary_join_element_wise(first, "of", second, " ")
    genre_lists = [list(THEMES[name][0]) for name in names]
    lengths = np.array([len(g) for g in genre_lists])[theme]
    genres = pa.ListArray.from_arrays(
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32),
        pa.array(_flat_genres(genre_lists, theme), type=pa.string()))
    popularity = _zipf_weights(n, rng)
    quality = rng.normal(0, 0.5, n)
    table = pa.table({
        "item_id": np.arange(1, n + 1, dtype=np.int64),
        "title": title,
        "plot": plot,
        "genres": genres,
        "year": rng.integers(1950, 2026, n).astype(np.int64),
        "runtime": np.round(rng.normal(105, 20, n).clip(60, 240)),
        "popularity": np.round(popularity * n, 3),
        "vote_average": np.round((6.3 + 1.5 * quality).clip(0, 10), 1),
        "vote_count": rng.poisson(popularity * 50 * n).astype(np.int64),
    })
    return table, theme, quality, popularity


def _flat_genres(genre_lists: list[list[str]], theme: np.ndarray) -> np.ndarray:
    """The genres of every item, concatenated in item order (vectorised by theme)."""
    counts = np.array([len(g) for g in genre_lists])[theme]
    out = np.empty(int(counts.sum()), dtype=object)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for t, genres in enumerate(genre_lists):
        rows = starts[theme == t]
        for j, genre in enumerate(genres):
            out[rows + j] = genre
    return out


def interactions_table(size: SynthSize, theme: np.ndarray, quality: np.ndarray,
                       popularity: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """user_id, item_id, rating (1-5 stars), timestamp: heavy-tailed activity, a favourite
    theme per user, Zipf popularity; repeated (user, item) draws dropped."""
    users, n = size.users, size.items
    activity = rng.lognormal(0.0, 1.0, users)
    counts = np.maximum(MIN_PER_USER, np.floor(
        activity / activity.sum() * size.interactions)).astype(np.int64)
    counts = np.minimum(counts, max(MIN_PER_USER, n // 2))
    user = np.repeat(np.arange(users, dtype=np.int64), counts)
    favourite = rng.integers(0, int(theme.max()) + 1, users)
    members = [np.flatnonzero(theme == t) for t in range(int(theme.max()) + 1)]
    weights = [popularity[m] / popularity[m].sum() if len(m) else m for m in members]
    drawn_user, drawn_item = user[:0], user[:0]
    for _ in range(TOP_UPS):  # repeated pairs are dropped, then drawn again
        item = rng.choice(n, size=len(user), p=popularity)  # out of theme: global popularity
        in_theme = rng.random(len(user)) < IN_THEME
        for t, (pool, p) in enumerate(zip(members, weights, strict=True)):
            rows = np.flatnonzero(in_theme & (favourite[user] == t))
            if len(pool) and len(rows):
                item[rows] = pool[rng.choice(len(pool), size=len(rows), p=p)]
        drawn_user = np.concatenate([drawn_user, user])
        drawn_item = np.concatenate([drawn_item, item])
        _, first = np.unique(drawn_user * n + drawn_item, return_index=True)
        first.sort()
        drawn_user, drawn_item = drawn_user[first], drawn_item[first]
        missing = counts - np.bincount(drawn_user, minlength=users)
        if missing.sum() <= 0.001 * counts.sum():
            break
        user = np.repeat(np.arange(users, dtype=np.int64), np.maximum(missing, 0))
    short = MIN_PER_USER - np.bincount(drawn_user, minlength=users)
    while (short > 0).any():  # the few users still short of the minimum: uniform draws
        user = np.repeat(np.arange(users, dtype=np.int64), np.maximum(short, 0))
        drawn_user = np.concatenate([drawn_user, user])
        drawn_item = np.concatenate([drawn_item, rng.integers(0, n, len(user))])
        _, first = np.unique(drawn_user * n + drawn_item, return_index=True)
        first.sort()
        drawn_user, drawn_item = drawn_user[first], drawn_item[first]
        short = MIN_PER_USER - np.bincount(drawn_user, minlength=users)
    order = np.argsort(drawn_user, kind="stable")
    user, item = drawn_user[order], drawn_item[order]
    liked = theme[item] == favourite[user]
    stars = 2.6 + 1.6 * liked + quality[item] + rng.normal(0, 0.7, len(user))
    gaps = rng.exponential(3 * 86_400, len(user))
    elapsed = np.cumsum(gaps)
    starts = np.searchsorted(user, np.arange(users))
    elapsed -= np.repeat(elapsed[starts] - gaps[starts], np.diff(np.append(starts, len(user))))
    start = rng.integers(1_420_000_000, 1_700_000_000, users)
    return pa.table({
        "user_id": user,
        "item_id": item + 1,
        "rating": np.clip(np.round(stars), 1, 5),
        "timestamp": (start[user] + elapsed).astype(np.int64),
    })


@dataclass(frozen=True)
class SynthResult:
    """What ``workbench data synth`` wrote."""

    spec_file: Path
    items: int
    users: int
    interactions: int


def write_synthetic(name: str, size: SynthSize, folder: Path) -> SynthResult:
    """Generate the dataset and write ``items.parquet``, ``interactions.parquet`` and
    ``<name>.yaml`` (its spec, ``format: parquet``) into ``folder``, each atomically."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise SynthError(f"dataset name {name!r}: use lower case letters, digits, - and _ "
                         f"(at most 40)")
    size.check()
    rng = np.random.default_rng(size.seed)
    items, theme, quality, popularity = items_table(size, rng)
    interactions = interactions_table(size, theme, quality, popularity, rng)
    for file, table in (("items.parquet", items), ("interactions.parquet", interactions)):
        with atomic_path(folder / file, suffix=".parquet") as tmp:
            pq.write_table(table, tmp)
    first = THEMES[next(iter(THEMES))][1]
    spec = {
        "name": name,
        "title": f"Synthetic: {size.items:,} items, {size.users:,} users",
        "description": (f"Generated by `workbench data synth` (seed {size.seed}): "
                        f"{size.clusters} taste clusters, Zipf item popularity, heavy-tailed "
                        f"user activity."),
        "license": "Generated by this project; no third-party data.",
        "rating_scale": [1, 5],
        "demo_query": " ".join(first[:3]),
        "items": {"file": "items.parquet", "format": "parquet",
                  "columns": {"item_id": "item_id", "title": "title", "text": "plot",
                              "genres": "genres", "year": "year", "runtime": "runtime",
                              "popularity": "popularity", "vote_average": "vote_average",
                              "vote_count": "vote_count"}},
        "interactions": {"file": "interactions.parquet", "format": "parquet",
                         "columns": {"user_id": "user_id", "item_id": "item_id",
                                     "rating": "rating", "timestamp": "timestamp"}},
    }
    spec_file = folder / f"{name}.yaml"
    write_text(spec_file, yaml.safe_dump(spec, sort_keys=False))
    return SynthResult(spec_file, items.num_rows,
                       int(pc.count_distinct(interactions["user_id"]).as_py()),
                       interactions.num_rows)
