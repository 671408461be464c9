"""Reader for ``anime``: MyAnimeList 2020 (synopsis + metadata) joined to the rating sample.

Source quirks handled here (each counted in the prepare report):

- The genre column is named ``Genders`` and the synopsis column ``sypnopsis`` (both sic, the
  first Kaggle version of the files).
- ``Unknown`` marks a missing value in every column of ``anime.csv``: nulled, not parsed.
- 745 synopses are MAL placeholders ("No synopsis information has been added to this
  title...", "No synopsis has been added for this series yet..."): ``text`` is null, the anime
  stays in the catalog, searchable by title and genres.
- The files have CRLF line endings; text whitespace (CR, LF) is collapsed to single spaces.
- The catalog is ``anime_with_synopsis.csv`` (the author left out Hentai there); ratings of
  anime outside it are skipped.
- The rating file is a 99,999-row prefix of ``rating_complete.csv``, which is ordered by
  user, so its last user's history is cut off: that user is left out (counted), since a partial
  history would distort both training and per-user evaluation.
- There are no timestamps: ``timestamp`` is null for every rating (stated in the report).
- ``language`` is null: MAL does not record an original language.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from workbench.data.readers import (
    PreparedTables,
    PrepareReport,
    clean_text,
    null_where,
    parse_numbers,
    read_source_csv,
    require_columns,
    split_list,
)

UNKNOWN = ("Unknown",)
PLACEHOLDER_SYNOPSIS = re.compile(
    r"^No (synopsis|description) (information )?has been added", re.IGNORECASE
)
SCORE_COLUMNS = [f"Score-{i}" for i in range(1, 11)]
META_COLUMNS = [
    "MAL_ID", "Name", "English name", "Japanese name", "Type", "Episodes", "Aired", "Studios",
    "Duration", "Members", "Score", *SCORE_COLUMNS,
]
_YEAR = re.compile(r"\b(1[89]\d{2}|20\d{2})\b")
_DURATION = re.compile(r"(?:(\d+)\s*hr\.?)?\s*(?:(\d+)\s*min\.?)?\s*(?:(\d+)\s*sec\.?)?")


def parse_duration_minutes(value: object) -> float | None:
    """``"1 hr. 55 min."`` -> 115.0, ``"24 min. per ep."`` -> 24.0, ``"Unknown"`` -> None."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 60 + minutes + seconds / 60
    return total if total > 0 else None


def parse_first_year(value: object) -> int | None:
    """The first plausible year in an ``Aired`` string (``"Apr 3, 1998 to ..."`` -> 1998)."""
    if not isinstance(value, str):
        return None
    match = _YEAR.search(value)
    return int(match.group(1)) if match else None


def _items(synopsis: pd.DataFrame, meta: pd.DataFrame, report: PrepareReport) -> pd.DataFrame:
    require_columns(synopsis, ["MAL_ID", "Name", "Genders", "sypnopsis"], "anime_with_synopsis.csv")
    require_columns(meta, META_COLUMNS, "anime.csv")
    src = "anime_with_synopsis.csv"
    synopsis = synopsis.assign(item_id=parse_numbers(synopsis["MAL_ID"], report, f"{src} MAL_ID"))
    bad_id = synopsis["item_id"].isna()
    report.record(f"{src}: row without a valid MAL_ID", "skipped", int(bad_id.sum()))
    synopsis = synopsis[~bad_id]
    meta = meta.assign(item_id=parse_numbers(meta["MAL_ID"], report, "anime.csv MAL_ID"))
    meta = meta.dropna(subset=["item_id"]).drop_duplicates("item_id")
    df = synopsis.merge(meta.drop(columns=["Name", "MAL_ID"]), on="item_id", how="left",
                        suffixes=("", "_meta"), indicator=True)
    no_meta = df["_merge"] == "left_only"
    report.record("anime.csv: catalog anime without a metadata row", "nulled",
                  int(no_meta.sum()), df.loc[no_meta, "Name"].head(3))

    title = clean_text(df["Name"])
    no_title = title.isna()
    report.record(f"{src}: row without a Name", "skipped", int(no_title.sum()))
    df, title = df[~no_title], title[~no_title]

    text = clean_text(df["sypnopsis"])
    report.record(f"{src} sypnopsis: missing", "nulled", int(text.isna().sum()),
                  title[text.isna()].head(3))
    text = null_where(text, text.str.match(PLACEHOLDER_SYNOPSIS), report,
                      f"{src} sypnopsis: MAL placeholder text")

    clipped = int(text.str.match(r"^[a-z]").fillna(False).sum())
    report.notes.append(
        f"{clipped:,} synopses start with a lowercase letter, most of them clipped at the start "
        f"in the source (\"other day, another bounty...\"); kept as found, not guessed."
    )

    def alternatives(row: tuple) -> list[str]:
        name, *others = row
        names = [
            o.strip() for o in others if isinstance(o, str) and o.strip() not in ("", *UNKNOWN)
        ]
        return [n for n in dict.fromkeys(names) if n != name]

    alt_titles = [alternatives(r) for r in zip(title, df["English name"], df["Japanese name"],
                                                strict=True)]
    genres = split_list(df["Genders"].fillna(df.get("Genders_meta")), ",", UNKNOWN)
    report.record(f"{src} Genders: Unknown or empty", "nulled",
                  int((genres.map(len) == 0).sum()), title[genres.map(len) == 0].head(3))

    aired = df["Aired"]
    year = pd.Series([parse_first_year(v) for v in aired], index=aired.index, dtype="Int64")
    report.record("anime.csv Aired: Unknown", "nulled", int(aired.isin(UNKNOWN).sum()))
    report.record("anime.csv Aired: no year found", "nulled",
                  int((aired.notna() & ~aired.isin(UNKNOWN) & year.isna()).sum()),
                  aired[aired.notna() & ~aired.isin(UNKNOWN) & year.isna()].head(3))
    duration = df["Duration"]
    runtime = pd.Series([parse_duration_minutes(v) for v in duration], index=duration.index,
                        dtype="float64")
    report.record("anime.csv Duration: Unknown", "nulled", int(duration.isin(UNKNOWN).sum()))
    report.record("anime.csv Duration: unparseable", "nulled",
                  int((duration.notna() & ~duration.isin(UNKNOWN) & runtime.isna()).sum()),
                  duration[duration.notna() & ~duration.isin(UNKNOWN) & runtime.isna()].head(3))
    episodes = parse_numbers(df["Episodes"], report, "anime.csv Episodes", UNKNOWN)
    episodes = null_where(episodes, episodes < 1, report, "anime.csv Episodes: below 1")
    item_type = df["Type"].astype("string").str.strip()
    item_type = null_where(item_type, item_type.isin(UNKNOWN), report, "anime.csv Type: Unknown")

    score_counts = pd.DataFrame(
        {c: pd.to_numeric(df[c].where(~df[c].isin(UNKNOWN)), errors="coerce")
         for c in SCORE_COLUMNS}
    )
    vote_count = score_counts.sum(axis=1, min_count=1)
    report.record("anime.csv Score-1..Score-10: all Unknown (vote_count null)", "nulled",
                  int(vote_count.isna().sum()))
    return pd.DataFrame(
        {
            "item_id": df["item_id"].astype("int64").to_numpy(),
            "title": title.to_numpy(),
            "alt_titles": alt_titles,
            "text": text.to_numpy(),
            "genres": genres.to_numpy(),
            "keywords": [[] for _ in range(len(df))],
            "companies": split_list(df["Studios"], ",", UNKNOWN).to_numpy(),
            "year": pd.array(year, dtype="Int64"),
            "language": pd.array([None] * len(df), dtype="string"),
            "runtime": runtime.to_numpy(),
            "episodes": pd.array(episodes, dtype="Int64"),
            "item_type": item_type.to_numpy(),
            "popularity": parse_numbers(df["Members"], report, "anime.csv Members", UNKNOWN)
            .to_numpy(),
            "vote_average": parse_numbers(df["Score"], report, "anime.csv Score", UNKNOWN)
            .to_numpy(),
            "vote_count": pd.array(vote_count.round(), dtype="Int64"),
            "collection": pd.array([None] * len(df), dtype="string"),
            "poster_url": pd.array([None] * len(df), dtype="string"),
        }
    )


def _interactions(ratings: pd.DataFrame, report: PrepareReport) -> pd.DataFrame:
    src = "rating_complete_sample.csv"
    require_columns(ratings, ["user_id", "anime_id", "rating"], src)
    parsed = pd.DataFrame(
        {
            "user_id": parse_numbers(ratings["user_id"], report, f"{src} user_id"),
            "item_id": parse_numbers(ratings["anime_id"], report, f"{src} anime_id"),
            "rating": parse_numbers(ratings["rating"], report, f"{src} rating"),
        }
    )
    incomplete = parsed.isna().any(axis=1)
    report.record(f"{src}: row without a valid user_id, anime_id or rating", "skipped",
                  int(incomplete.sum()))
    parsed = parsed[~incomplete]
    if len(parsed) and parsed["user_id"].is_monotonic_increasing:
        last = parsed["user_id"].iloc[-1]
        cut = parsed["user_id"] == last
        report.record(f"{src}: last user cut off by the sample (user_id {int(last)})", "skipped",
                      int(cut.sum()))
        parsed = parsed[~cut]
    else:
        report.notes.append(f"{src} is not ordered by user; no truncated last user removed.")
    return pd.DataFrame(
        {
            "user_id": parsed["user_id"].astype("int64"),
            "item_id": parsed["item_id"].astype("int64"),
            "rating": parsed["rating"].astype("float64"),
            "timestamp": pd.array([None] * len(parsed), dtype="Int64"),
        }
    )


def read_anime(raw_dir: Path, report: PrepareReport, spec: object = None) -> PreparedTables:
    """Map the raw anime files to the workbench schema (before the common steps)."""
    synopsis = read_source_csv(raw_dir / "anime_with_synopsis.csv", report)
    meta = read_source_csv(raw_dir / "anime.csv", report)
    ratings = read_source_csv(raw_dir / "rating_complete_sample.csv", report)
    report.notes.append("MAL records no original language: language is null for every anime.")
    return PreparedTables(_items(synopsis, meta, report), _interactions(ratings, report))
