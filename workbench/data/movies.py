"""Reader for ``movies``: the TMDB 5000 catalog joined to MovieLens ml-latest-small ratings.

Source quirks handled here (each counted in the prepare report):

- ``genres``, ``keywords`` and ``production_companies`` are JSON lists of ``{"name": ...}``;
  malformed JSON becomes an empty list.
- ``overview`` is null or blank for a few movies: ``text`` is null, the movie stays searchable
  by title and genres.
- ``runtime`` 0, ``vote_average`` 0 with ``vote_count`` 0, and language ``xx`` (TMDB's "no
  language") are TMDB placeholders, not values: nulled.
- Ratings reach the catalog through ``links.csv`` (movieId -> tmdbId). Movies without a tmdbId,
  or whose tmdbId is not in the TMDB 5000, are skipped; two movieIds sharing a tmdbId merge
  into one item (a user's latest rating wins). Catalog movies nobody rated stay in the catalog.
"""

from __future__ import annotations

import json
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
)

TMDB_COLUMNS = [
    "id", "title", "original_title", "overview", "genres", "keywords", "production_companies",
    "original_language", "release_date", "runtime", "popularity", "vote_average", "vote_count",
]


def _names_from_json(values: pd.Series, report: PrepareReport, what: str) -> pd.Series:
    """Parse TMDB JSON lists of objects into lists of their ``name``."""
    malformed: list[str] = []

    def one(value: object) -> list[str]:
        if not isinstance(value, str):
            return []
        try:
            parsed = json.loads(value)
            names = [str(d["name"]).strip() for d in parsed]
        except (json.JSONDecodeError, TypeError, KeyError):
            malformed.append(value)
            return []
        return list(dict.fromkeys(n for n in names if n))

    out = pd.Series([one(v) for v in values], index=values.index, dtype=object)
    report.record(f"{what}: malformed JSON", "nulled", len(malformed), malformed)
    return out


def _items(tmdb: pd.DataFrame, report: PrepareReport) -> pd.DataFrame:
    src = "tmdb_5000_movies.csv"
    require_columns(tmdb, TMDB_COLUMNS, src)
    ids = parse_numbers(tmdb["id"], report, f"{src} id")
    bad_id = ids.isna()
    report.record(f"{src}: row without a valid id", "skipped", int(bad_id.sum()),
                  tmdb.loc[bad_id, "title"].head(3))
    tmdb, ids = tmdb[~bad_id], ids[~bad_id]
    title = clean_text(tmdb["title"]).fillna(clean_text(tmdb["original_title"]))
    no_title = title.isna()
    report.record(f"{src}: row without a title", "skipped", int(no_title.sum()),
                  ids[no_title].head(3))
    tmdb, ids, title = tmdb[~no_title], ids[~no_title], title[~no_title]

    text = clean_text(tmdb["overview"])
    report.record(f"{src} overview: missing or blank", "nulled", int(text.isna().sum()),
                  title[text.isna()].head(3))
    original = clean_text(tmdb["original_title"])
    alt_titles = [
        [o] if isinstance(o, str) and o != t else [] for o, t in zip(original, title, strict=True)
    ]
    release = pd.to_datetime(tmdb["release_date"], errors="coerce", format="%Y-%m-%d")
    bad_date = tmdb["release_date"].notna() & release.isna()
    report.record(f"{src} release_date: malformed date", "nulled", int(bad_date.sum()),
                  tmdb.loc[bad_date, "release_date"].head(3))
    report.record(f"{src} release_date: missing", "nulled", int(tmdb["release_date"].isna().sum()),
                  title[tmdb["release_date"].isna()].head(3))
    runtime = parse_numbers(tmdb["runtime"], report, f"{src} runtime")
    runtime = null_where(runtime, runtime <= 0, report, f"{src} runtime: 0 (placeholder)")
    vote_average = parse_numbers(tmdb["vote_average"], report, f"{src} vote_average")
    vote_count = parse_numbers(tmdb["vote_count"], report, f"{src} vote_count")
    vote_average = null_where(
        vote_average, (vote_average == 0) & (vote_count.fillna(0) == 0), report,
        f"{src} vote_average: 0 with no votes (placeholder)",
    )
    genres = _names_from_json(tmdb["genres"], report, f"{src} genres")
    report.record(f"{src} genres: empty list", "nulled", int((genres.map(len) == 0).sum()),
                  title[(genres.map(len) == 0).to_numpy()].head(3))
    language = tmdb["original_language"].astype("string").str.strip().str.lower()
    language = null_where(language, language == "xx", report,
                          f"{src} original_language: xx (no language)")
    return pd.DataFrame(
        {
            "item_id": ids.astype("int64").to_numpy(),
            "title": title.to_numpy(),
            "alt_titles": alt_titles,
            "text": text.to_numpy(),
            "genres": genres.to_numpy(),
            "keywords": _names_from_json(tmdb["keywords"], report, f"{src} keywords").to_numpy(),
            "companies": _names_from_json(
                tmdb["production_companies"], report, f"{src} production_companies"
            ).to_numpy(),
            "year": pd.array(release.dt.year, dtype="Int64"),
            "language": language.to_numpy(),
            "runtime": runtime.to_numpy(),
            "episodes": pd.array([None] * len(ids), dtype="Int64"),
            "item_type": "Movie",
            "popularity": parse_numbers(tmdb["popularity"], report, f"{src} popularity")
            .to_numpy(),
            "vote_average": vote_average.to_numpy(),
            "vote_count": pd.array(vote_count, dtype="Int64"),
            "collection": pd.array([None] * len(ids), dtype="string"),
            "poster_url": pd.array([None] * len(ids), dtype="string"),
        }
    )


def _interactions(ratings: pd.DataFrame, links: pd.DataFrame,
                  report: PrepareReport) -> pd.DataFrame:
    require_columns(ratings, ["userId", "movieId", "rating", "timestamp"], "ratings.csv")
    require_columns(links, ["movieId", "tmdbId"], "links.csv")
    parsed = pd.DataFrame(
        {
            "user_id": parse_numbers(ratings["userId"], report, "ratings.csv userId"),
            "movie_id": parse_numbers(ratings["movieId"], report, "ratings.csv movieId"),
            "rating": parse_numbers(ratings["rating"], report, "ratings.csv rating"),
            "timestamp": parse_numbers(ratings["timestamp"], report, "ratings.csv timestamp"),
        }
    )
    incomplete = parsed[["user_id", "movie_id", "rating"]].isna().any(axis=1)
    report.record("ratings.csv: row without a valid userId, movieId or rating", "skipped",
                  int(incomplete.sum()))
    parsed = parsed[~incomplete]

    link = pd.DataFrame(
        {
            "movie_id": parse_numbers(links["movieId"], report, "links.csv movieId"),
            "item_id": parse_numbers(links["tmdbId"], report, "links.csv tmdbId"),
        }
    ).dropna()
    shared = link["item_id"].duplicated(keep=False)
    if shared.any():
        report.notes.append(
            f"links.csv maps {int(shared.sum())} movieIds to "
            f"{link.loc[shared, 'item_id'].nunique()} shared tmdbId(s); their ratings merge "
            "into one item."
        )
    merged = parsed.merge(link.drop_duplicates("movie_id"), on="movie_id", how="left")
    unlinked = merged["item_id"].isna()
    report.record("ratings.csv: movie has no tmdbId in links.csv", "skipped",
                  int(unlinked.sum()), merged.loc[unlinked, "movie_id"].head(3))
    merged = merged[~unlinked]
    return pd.DataFrame(
        {
            "user_id": merged["user_id"].astype("int64"),
            "item_id": merged["item_id"].astype("int64"),
            "rating": merged["rating"].astype("float64"),
            "timestamp": pd.array(merged["timestamp"], dtype="Int64"),
        }
    )


def read_movies(raw_dir: Path, report: PrepareReport, spec: object = None) -> PreparedTables:
    """Map the raw movies files to the workbench schema (before the common steps)."""
    tmdb = read_source_csv(raw_dir / "tmdb_5000_movies.csv", report)
    ratings = read_source_csv(raw_dir / "ratings.csv", report)
    links = read_source_csv(raw_dir / "links.csv", report)
    return PreparedTables(_items(tmdb, report), _interactions(ratings, links, report))
