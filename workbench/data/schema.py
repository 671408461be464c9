"""The one schema every prepared dataset follows, validated with pandera.

``items.parquet`` (one row per catalog item):

============== =========== ==================================================================
column         type        meaning
============== =========== ==================================================================
item_id        int64       the provider's id: TMDB id (movies), MAL id (anime); unique
title          str         display title, non-empty
alt_titles     list[str]   other titles (original, English, Japanese), may be empty
text           str | null  plot overview / synopsis; null when missing or a placeholder
genres         list[str]   genre names
keywords       list[str]   provider keywords (TMDB keywords; empty for anime)
companies      list[str]   production companies (movies) or studios (anime)
year           Int64|null  release / first-aired year
language       str | null  original language, ISO 639-1 (null where the source has none)
runtime        float|null  minutes (per episode for anime series)
episodes       Int64|null  number of episodes (null for movies)
item_type      str | null  Movie, TV, OVA, ONA, Special, Music
popularity     float|null  provider popularity: TMDB popularity, MAL members
vote_average   float|null  provider mean vote on 0-10 (TMDB vote_average, MAL score)
vote_count     Int64|null  number of votes behind vote_average
weighted_rating float|null IMDB weighted rating v/(v+m)*R + m/(v+m)*C (see prepare)
collection     str | null  provider collection/franchise name when a provider supplies one
poster_url     str | null  poster image URL when a provider supplies one
============== =========== ==================================================================

``interactions.parquet`` (one row per user and item):

========= =========== ======================================================================
user_id   int64       the source's user id (MovieLens userId, MAL user_id)
item_id   int64       an ``items.item_id``
rating    float64     explicit rating on the dataset's scale (see the prepare report)
timestamp Int64|null  Unix seconds; null for every row when the source has none (anime)
========= =========== ======================================================================
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from workbench import WorkbenchError

ITEM_COLUMNS = [
    "item_id", "title", "alt_titles", "text", "genres", "keywords", "companies", "year",
    "language", "runtime", "episodes", "item_type", "popularity", "vote_average", "vote_count",
    "weighted_rating", "collection", "poster_url",
]
LIST_COLUMNS = ["alt_titles", "genres", "keywords", "companies"]
YEAR_RANGE = (1870, 2100)
"""Release years the catalogs accept (the schema, patches and provider answers)."""
INTERACTION_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


class SchemaError(WorkbenchError):
    """A table violates the workbench schema; the message names column, row and value."""


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _non_blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype("string").str.strip().str.len() > 0)


def _str_list_column() -> pa.Column:
    return pa.Column(
        object,
        pa.Check(_is_str_list, element_wise=True, error="a list of non-empty strings"),
    )


ITEMS_SCHEMA = pa.DataFrameSchema(
    {
        "item_id": pa.Column("int64", pa.Check.ge(0), unique=True),
        "title": pa.Column(str, pa.Check(_non_blank, error="non-empty title")),
        "alt_titles": _str_list_column(),
        "text": pa.Column(str, pa.Check(_non_blank, error="null or non-empty"), nullable=True),
        "genres": _str_list_column(),
        "keywords": _str_list_column(),
        "companies": _str_list_column(),
        "year": pa.Column("Int64", pa.Check.in_range(*YEAR_RANGE), nullable=True),
        "language": pa.Column(str, pa.Check.str_matches(r"^[a-z]{2,3}$"), nullable=True),
        "runtime": pa.Column("float64", pa.Check.gt(0), nullable=True),
        "episodes": pa.Column("Int64", pa.Check.ge(1), nullable=True),
        "item_type": pa.Column(str, nullable=True),
        "popularity": pa.Column("float64", pa.Check.ge(0), nullable=True),
        "vote_average": pa.Column("float64", pa.Check.in_range(0, 10), nullable=True),
        "vote_count": pa.Column("Int64", pa.Check.ge(0), nullable=True),
        "weighted_rating": pa.Column("float64", pa.Check.in_range(0, 10), nullable=True),
        "collection": pa.Column(str, nullable=True),
        "poster_url": pa.Column(str, nullable=True),
    },
    strict=True,
    ordered=True,
    name="items",
)


def interactions_schema(rating_scale: tuple[float, float]) -> pa.DataFrameSchema:
    """Schema of ``interactions`` with ratings on ``rating_scale`` (inclusive)."""
    low, high = rating_scale
    return pa.DataFrameSchema(
        {
            "user_id": pa.Column("int64", pa.Check.ge(0)),
            "item_id": pa.Column("int64", pa.Check.ge(0)),
            "rating": pa.Column("float64", pa.Check.in_range(low, high)),
            "timestamp": pa.Column("Int64", pa.Check.ge(0), nullable=True),
        },
        strict=True,
        ordered=True,
        unique=["user_id", "item_id"],
        name="interactions",
    )


def _plain(value: object) -> object:
    """NumPy scalars as plain Python values, so messages read ``4`` not ``np.int64(4)``."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def _describe_failures(exc: pa.errors.SchemaErrors, frame: pd.DataFrame, key: str,
                       table: str, limit: int = 10) -> str:
    cases = exc.failure_cases
    lines = []
    for case in cases.head(limit).itertuples(index=False):
        column = case.column if isinstance(case.column, str) else "(table)"
        index = case.index
        where = ""
        if index is not None and not pd.isna(index) and index in frame.index:
            row = frame.index.get_loc(index)
            where = f", row {row}"
            if key in frame.columns:
                where += f" ({key}={_plain(frame.at[index, key])!r})"
        lines.append(
            f"  column {column!r}{where}: value {_plain(case.failure_case)!r} fails {case.check}"
        )
    more = len(cases) - limit
    if more > 0:
        lines.append(f"  ... and {more} more")
    return f"{table} violates the workbench schema ({len(cases)} problems):\n" + "\n".join(lines)


def validate_items(items: pd.DataFrame, table: str = "items") -> pd.DataFrame:
    """Validate (and coerce dtypes of) an items table; :class:`SchemaError` on a violation."""
    try:
        return ITEMS_SCHEMA.validate(items, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise SchemaError(_describe_failures(exc, items, "item_id", table)) from None


def validate_interactions(
    interactions: pd.DataFrame,
    rating_scale: tuple[float, float],
    items: pd.DataFrame | None = None,
    table: str = "interactions",
) -> pd.DataFrame:
    """Validate an interactions table; with ``items``, also that every item_id is in it."""
    try:
        out = interactions_schema(rating_scale).validate(interactions, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise SchemaError(_describe_failures(exc, interactions, "user_id", table)) from None
    if items is not None:
        unknown = ~out["item_id"].isin(items["item_id"])
        if unknown.any():
            row = int(unknown.to_numpy().nonzero()[0][0])
            raise SchemaError(
                f"{table} violates the workbench schema: column 'item_id', row {row}: "
                f"item_id {int(out['item_id'].iloc[row])} is not in the items table "
                f"({int(unknown.sum())} such rows)"
            )
    return out


def display_title(title: str, year: object = None) -> str:
    """``"Title (1999)"`` for people: no year when it is missing (null, NA, NaN), and none
    added when the title already ends with it (``"Hashire Melos (1981)"``)."""
    if year is None or pd.isna(year):
        return title
    suffix = f"({int(year)})"
    return title if title.rstrip().endswith(suffix) else f"{title} {suffix}"


def safe_image_url(url: object) -> str | None:
    """``url`` when it is an ``https:`` image address safe to put in a page's ``src``, else
    None (the caller draws a placeholder): other schemes (``javascript:``, ``http:``,
    ``data:`` from outside) and anything with quotes, angle brackets or whitespace are
    refused, so a hostile provider answer or patch file cannot inject markup."""
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2048:
        return None
    if any(c in url for c in "\"'<>`") or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    return url

