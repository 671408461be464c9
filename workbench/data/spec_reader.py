"""The generic reader: a dataset spec's two files (CSV or Parquet, :mod:`workbench.data.spec`)
mapped to the workbench schema, with the same counting of every nulled value and skipped row
as the built-in readers. Every rule is a vectorised pandas/pyarrow operation (no per-row
Python), so a Parquet dataset of 1M items and 10M interactions prepares in minutes.

Parquet columns keep their types: numbers are taken as numbers, a ``timestamp`` column may
be a Parquet timestamp, and a list column (``genres``...) may be a Parquet list of strings
instead of delimited text.

Rules (each counted in the prepare report under a named reason):

- an item row without a whole-number ``item_id`` >= 0 or without a title is skipped; a
  repeated ``item_id`` keeps its first row;
- ``year`` is the first four-digit number of the cell (a year or a date) within
  :data:`~workbench.data.schema.YEAR_RANGE`, else null; numbers out of the schema's range
  (``runtime`` <= 0, ``vote_average`` outside 0-10, negative counts) are nulled; ``language``
  is kept when it is a 2-3 letter code (lower-cased);
- an interaction without a whole-number user and item id, or without a rating when the spec
  has a rating column, is skipped; ``timestamp`` is epoch seconds or a date (UTC);
- ratings outside ``rating_scale`` are not clipped: prepare's validation names them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.readers import (
    PreparedTables,
    PrepareReport,
    clean_text,
    null_where,
    parse_numbers,
    read_source_csv,
    read_source_parquet,
    split_list,
)
from workbench.data.schema import YEAR_RANGE
from workbench.data.spec import (
    DatasetSpec,
    ListColumn,
    TextFile,
    TitleColumn,
    header,
    located,
)

NUMBER_RULES = {"runtime": (lambda v: v > 0, "not > 0"),
                "popularity": (lambda v: v >= 0, "negative"),
                "vote_average": (lambda v: (v >= 0) & (v <= 10), "outside 0-10"),
                "vote_count": (lambda v: (v >= 0) & (v == np.floor(v)), "not a count"),
                "episodes": (lambda v: (v >= 1) & (v == np.floor(v)), "not a count >= 1")}
INTEGER_COLUMNS = ("vote_count", "episodes")


def _ids(values: pd.Series, report: PrepareReport, what: str) -> pd.Series:
    numbers = parse_numbers(values, report, what)
    return numbers.where((numbers >= 0) & (numbers == np.floor(numbers)) & (numbers < 2**63))


def _years(values: pd.Series, report: PrepareReport, what: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        values = values.dt.year
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        years = numbers.where(numbers == np.floor(numbers))
    else:
        years = pd.to_numeric(values.astype("string").str.extract(r"(\d{4})", expand=False),
                              errors="coerce")
    outside = years.notna() & ((years < YEAR_RANGE[0]) | (years > YEAR_RANGE[1]))
    no_year = values.notna() & years.isna()
    report.record(f"{what}: no four-digit year", "nulled", int(no_year.sum()),
                  values[no_year].head(3))
    years = null_where(years, outside, report, f"{what}: year outside {YEAR_RANGE}")
    return pd.array(years, dtype="Int64")


def _timestamps(values: pd.Series, report: PrepareReport, what: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        values = values.dt.tz_localize("UTC") if values.dt.tz is None else values
        seconds = (values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        return pd.array(seconds.where(seconds >= 0), dtype="Int64")
    if pd.api.types.is_numeric_dtype(values):
        seconds = values.astype("float64")
    else:
        seconds = pd.to_numeric(values.str.strip(), errors="coerce")
    dated = values.notna() & seconds.isna()
    if dated.any():
        dates = pd.to_datetime(values[dated], errors="coerce", utc=True, format="mixed")
        seconds[dated] = (dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    bad = values.notna() & (seconds.isna() | (seconds < 0))
    report.record(f"{what}: not epoch seconds or a date", "nulled", int(bad.sum()),
                  values[bad].head(3))
    return pd.array(seconds.where(~bad).round(), dtype="Int64")


def _items(frame: pd.DataFrame, spec: DatasetSpec, report: PrepareReport) -> pd.DataFrame:
    src = spec.layout.items.file.name
    columns = spec.layout.items.columns.mapping()
    ids = _ids(frame[columns["item_id"]], report, f"{src} item_id")
    title = clean_text(frame[columns["title"]])
    title_years = None
    if isinstance(spec.layout.items.columns.title, TitleColumn) and \
            spec.layout.items.columns.title.split_year:
        title, title_years = _split_year(title, report, src)
    keep = ids.notna() & title.notna()
    report.record(f"{src}: row without a whole-number item_id or a title", "skipped",
                  int((~keep).sum()), frame.loc[~keep, columns["item_id"]].head(3))
    frame, ids, title = frame[keep], ids[keep], title[keep]
    repeated = ids.duplicated(keep="first")
    report.record(f"{src}: repeated item_id (the first row kept)", "skipped",
                  int(repeated.sum()), ids[repeated].head(3))
    frame, ids, title = frame[~repeated], ids[~repeated], title[~repeated]
    if title_years is not None and "year" not in columns:
        frame = frame.assign(__title_year__=title_years)  # aligned on the index
        columns["year"] = "__title_year__"
    n = len(frame)
    out: dict[str, object] = {"item_id": ids.astype("int64").to_numpy(),
                              "title": title.to_numpy()}
    for name in ("alt_titles", "genres", "keywords", "companies"):
        given = columns.get(name)
        out[name] = (split_list(frame[given.column], given.sep).to_numpy()
                     if isinstance(given, ListColumn) else [[] for _ in range(n)])
    for name in ("text", "item_type", "collection", "poster_url"):
        out[name] = (clean_text(frame[columns[name]]).to_numpy() if name in columns
                     else pd.array([None] * n, dtype="string"))
    text_file = spec.layout.items.columns.text
    if isinstance(text_file, TextFile):
        out["text"] = _text_from_file(text_file.file, ids, report,
                                      text_file.placeholder).to_numpy()
    out["year"] = (_years(frame[columns["year"]], report, f"{src} year") if "year" in columns
                   else pd.array([None] * n, dtype="Int64"))
    if "language" in columns:
        language = clean_text(frame[columns["language"]]).str.lower()
        out["language"] = null_where(language, ~language.str.fullmatch(r"[a-z]{2,3}").fillna(
            False), report, f"{src} language: not a 2-3 letter code").to_numpy()
    else:
        out["language"] = pd.array([None] * n, dtype="string")
    for name, (valid, why) in NUMBER_RULES.items():
        if name in columns:
            values = parse_numbers(frame[columns[name]], report, f"{src} {name}")
            values = null_where(values, ~valid(values) & values.notna(), report,
                                f"{src} {name}: {why}")
        else:
            values = pd.Series(np.nan, index=frame.index)
        out[name] = (pd.array(values.round(), dtype="Int64") if name in INTEGER_COLUMNS
                     else values.astype("float64").to_numpy())
    return pd.DataFrame(out)


_TITLE_YEAR = r"^(?P<title>.*?\S)\s*\((?P<year>\d{4})\)\s*$"


def _split_year(title: pd.Series, report: PrepareReport, src: str
                ) -> tuple[pd.Series, pd.Series]:
    """``Toy Story (1995)`` -> ``Toy Story`` and ``"1995"``; a title without a trailing
    ``(YYYY)`` stays whole and has no year (counted)."""
    parts = title.str.extract(_TITLE_YEAR)
    found = parts["year"].notna()
    report.record(f"{src} title: no trailing (year) to split off", "nulled",
                  int((title.notna() & ~found).sum()), title[title.notna() & ~found].head(3))
    return title.where(~found, parts["title"]), parts["year"].astype("string")


def _text_from_file(path: Path, ids: pd.Series, report: PrepareReport,
                    placeholder: str | None = None) -> pd.Series:
    """The items' text from a JSON object item id -> text (:class:`TextFile`); entries
    whose key is not a whole-number id, whose value is not text, whose text ``placeholder``
    matches whole (nulled), or whose item is not in the catalog are counted; the coverage is
    noted."""
    import json

    from workbench.data.readers import PrepareError, open_source

    try:
        with open_source(path) as fh:
            entries = json.load(fh)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PrepareError(f"cannot read {path.name} as JSON: {exc}") from None
    if not isinstance(entries, dict):
        raise PrepareError(f"{path.name}: expected one JSON object, item id -> text; found "
                           f"a {type(entries).__name__}")
    report.inputs[path.name] = len(entries)
    texts = pd.Series(list(entries.values()), index=list(entries), dtype=object)
    keys = pd.to_numeric(pd.Series(list(entries), dtype=object).str.strip(),
                         errors="coerce").astype("float64").to_numpy()
    whole = (keys >= 0) & (keys == np.floor(keys)) & (keys < 2**63)
    report.record(f"{path.name}: key not a whole-number item id", "skipped",
                  int((~whole).sum()), texts.index[~whole][:3])
    is_text = texts.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    report.record(f"{path.name}: value not a text", "skipped", int((whole & ~is_text).sum()))
    keep = whole & is_text
    if placeholder:
        stand_in = texts.map(lambda v: isinstance(v, str) and re.fullmatch(
            placeholder, v.strip(), re.S) is not None).to_numpy(dtype=bool)
        report.record(f"{path.name}: placeholder text (matches {placeholder!r})", "nulled",
                      int((keep & stand_in).sum()), texts.index[keep & stand_in][:3])
        keep &= ~stand_in
    by_id = pd.Series(texts.to_numpy()[keep], index=keys[keep].astype("int64"))
    by_id = by_id[~by_id.index.duplicated(keep="first")]
    off = ~by_id.index.isin(ids.astype("int64"))
    report.record(f"{path.name}: item not in the catalog", "skipped", int(off.sum()),
                  by_id.index[off][:3])
    text = clean_text(pd.Series(ids.astype("int64").map(by_id).to_numpy(), dtype="string"))
    report.notes.append(f"Item text from {path.name}: {int(text.notna().sum()):,} of "
                        f"{len(ids):,} catalog items ({text.notna().mean():.1%}).")
    return text


def _interactions(frame: pd.DataFrame, spec: DatasetSpec, report: PrepareReport
                  ) -> pd.DataFrame:
    src = spec.layout.interactions.file.name
    columns = spec.layout.interactions.columns
    parsed = pd.DataFrame({
        "user_id": _ids(frame[columns.user_id], report, f"{src} user_id"),
        "item_id": _ids(frame[columns.item_id], report, f"{src} item_id"),
        "rating": (parse_numbers(frame[columns.rating], report, f"{src} rating")
                   if columns.rating else pd.Series(1.0, index=frame.index)),
    })
    incomplete = parsed.isna().any(axis=1)
    report.record(f"{src}: row without whole-number user and item ids"
                  + (" or a rating" if columns.rating else ""), "skipped",
                  int(incomplete.sum()))
    timestamps = (_timestamps(frame.loc[~incomplete, columns.timestamp], report,
                              f"{src} timestamp") if columns.timestamp
                  else pd.array([None] * int((~incomplete).sum()), dtype="Int64"))
    parsed = parsed[~incomplete]
    if not columns.rating:
        report.notes.append(f"{src} has no rating column: every interaction counts 1 "
                            f"(implicit feedback).")
    return pd.DataFrame({"user_id": parsed["user_id"].astype("int64").to_numpy(),
                         "item_id": parsed["item_id"].astype("int64").to_numpy(),
                         "rating": parsed["rating"].astype("float64").to_numpy(),
                         "timestamp": timestamps})


def read_spec_dataset(raw_dir: Path, report: PrepareReport,
                      spec: DatasetSpec | None = None) -> PreparedTables:
    """Read the spec's items and interactions files (``raw_dir`` is unused: the files are
    where the spec says)."""
    spec = located(spec, raw_dir)
    tables = []
    for part in ("items", "interactions"):
        header(spec, part)  # the file, the delimiter and every mapped column, checked first
        where = getattr(spec.layout, part)
        if where.kind == "parquet":
            columns = (where.columns.mapping() if part == "items"
                       else where.columns.model_dump(exclude_none=True))
            wanted = list(dict.fromkeys(c.column if isinstance(c, ListColumn) else c
                                        for c in columns.values()))
            tables.append(read_source_parquet(where.file, report, wanted))
        else:
            tables.append(read_source_csv(where.file, report, delimiter=where.delimiter,
                                          encoding=where.encoding, names=where.names))
    items = _items(tables[0], spec, report)
    if not items["text"].notna().any():
        report.notes.append("No item has a plot text: the content engine embeds title and "
                            "genres.")
    return PreparedTables(items, _interactions(tables[1], spec, report))
