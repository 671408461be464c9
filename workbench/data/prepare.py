"""Prepare a dataset: raw files -> validated ``items.parquet`` and ``interactions.parquet``.

Every dataset goes through the same steps: a dataset-specific reader (``movies``, ``anime``,
``toy``) maps its sources to the schema of :mod:`workbench.data.schema`, then this module
removes duplicate interactions, computes the IMDB weighted rating, validates both tables,
writes them atomically with the splits (:mod:`workbench.data.splits`) and a prepare report.

Nothing is dropped silently: every malformed or placeholder value that is nulled, and every
row that is skipped, is counted under a named reason in ``prepare_report.json`` with a few
examples.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import WorkbenchError
from workbench.data import splits as split_mod
from workbench.data.registry import DatasetSpec, get_dataset
from workbench.data.schema import (
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    LIST_COLUMNS,
    validate_interactions,
    validate_items,
)
from workbench.settings import Settings, get_settings
from workbench.storage import write_json, write_parquet

WEIGHTED_RATING_QUANTILE = 0.90
"""m in the IMDB formula is this quantile of vote_count among items with votes."""

REPORT_FILE = "prepare_report.json"


class PrepareError(WorkbenchError):
    """A dataset cannot be prepared (missing raw file, unreadable source)."""


@dataclass
class Issue:
    """A counted data problem and what prepare did about it."""

    action: str
    """``nulled`` (the value became null), ``skipped`` (the row was left out) or ``merged``."""
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class PrepareReport:
    """What went in, what came out, and every value or row that was nulled or skipped."""

    dataset: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    inputs: dict[str, int] = field(default_factory=dict)
    """Data rows read per raw file."""
    issues: dict[str, Issue] = field(default_factory=dict)
    outputs: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def record(self, reason: str, action: str, count: int, examples: object = ()) -> None:
        """Count ``count`` occurrences of ``reason`` (no-op for zero)."""
        if count <= 0:
            return
        issue = self.issues.setdefault(reason, Issue(action))
        issue.count += int(count)
        for ex in list(examples)[: max(0, 3 - len(issue.examples))]:
            issue.examples.append(str(ex)[:120])

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PrepareReport:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["issues"] = {k: Issue(**v) for k, v in data.get("issues", {}).items()}
        return cls(**data)


@dataclass
class PreparedTables:
    """The two tables a dataset reader returns, before the common steps."""

    items: pd.DataFrame
    interactions: pd.DataFrame


# --------------------------------------------------------------------------------------------
# Helpers for the dataset readers


def read_source_csv(path: Path, report: PrepareReport) -> pd.DataFrame:
    """Read a raw CSV as strings; rows with too few or too many fields are skipped and counted.

    Uses the standard library's CSV reader (pandas pads a short row with nulls silently).
    Empty cells become null; every other value stays the exact source string, so that the
    readers decide (and count) what a placeholder or malformed value is. CRLF and LF line
    endings, quoted fields with embedded newlines, and a missing final newline are all fine.
    """
    if not path.is_file():
        raise PrepareError(
            f"raw file {path} is missing; run `workbench data fetch {report.dataset}` first"
        )
    rows: list[list[str]] = []
    bad: list[str] = []
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, None)
            if not header:
                raise PrepareError(f"{path.name} is empty (no header row)")
            for row in reader:
                if len(row) == len(header):
                    rows.append(row)
                elif row:
                    bad.append(f"line {reader.line_num}: {len(row)} fields, expected "
                               f"{len(header)}: {','.join(row)[:60]}")
    except (csv.Error, UnicodeDecodeError) as exc:
        raise PrepareError(f"cannot parse {path.name}: {exc}") from None
    report.inputs[path.name] = len(rows) + len(bad)
    report.record(f"{path.name}: malformed row (wrong number of fields)", "skipped", len(bad),
                  bad)
    frame = pd.DataFrame(rows, columns=header, dtype="string")
    return frame.mask(frame == "")


def require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Raise :class:`PrepareError` naming the columns a source file lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PrepareError(f"{source} lacks column(s) {missing}; found {list(frame.columns)}")


def parse_numbers(
    values: pd.Series, report: PrepareReport, what: str, placeholders: tuple[str, ...] = (),
) -> pd.Series:
    """Parse strings to float; placeholders and malformed numbers become null and are counted."""
    stripped = values.str.strip()
    is_placeholder = stripped.isin(placeholders)
    report.record(f"{what}: placeholder {'/'.join(placeholders)}", "nulled",
                  int(is_placeholder.sum()))
    candidates = stripped.mask(is_placeholder)
    numbers = pd.to_numeric(candidates, errors="coerce")
    malformed = candidates.notna() & numbers.isna()
    report.record(f"{what}: malformed number", "nulled", int(malformed.sum()),
                  candidates[malformed].head(3))
    return numbers.astype("float64")


def null_where(values: pd.Series, mask: pd.Series, report: PrepareReport, reason: str) -> pd.Series:
    """Null ``values`` where ``mask`` holds (and was not null already), counting them."""
    mask = mask.fillna(False).astype(bool) & values.notna()
    report.record(reason, "nulled", int(mask.sum()), values[mask].head(3))
    return values.mask(mask)


_SPACES = re.compile(r"\s+")


def clean_text(values: pd.Series) -> pd.Series:
    """Collapse runs of whitespace (CR, LF, tabs) and strip; empty becomes null."""
    out = values.astype("string").str.replace(_SPACES, " ", regex=True).str.strip()
    return out.mask(out.str.len() == 0)


def split_list(values: pd.Series, sep: str, placeholders: tuple[str, ...] = ()) -> pd.Series:
    """Split delimited strings into lists of stripped, non-empty, de-duplicated names."""

    def one(value: object) -> list[str]:
        if not isinstance(value, str) or value.strip() in placeholders:
            return []
        parts = (p.strip() for p in value.split(sep))
        return list(dict.fromkeys(p for p in parts if p and p not in placeholders))

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def as_list(value: object) -> object:
    """Null -> ``[]``; tuple or array -> list; anything else unchanged (the schema judges it)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, tuple | np.ndarray):
        return list(value)
    return value


# --------------------------------------------------------------------------------------------
# Common steps


def weighted_rating(
    vote_average: pd.Series, vote_count: pd.Series, quantile: float = WEIGHTED_RATING_QUANTILE
) -> tuple[pd.Series, dict[str, float]]:
    """IMDB weighted rating ``v/(v+m)*R + m/(v+m)*C``, with its parameters.

    ``C`` is the mean ``vote_average`` over items that have one and at least one vote; ``m`` is
    the ``quantile`` of their ``vote_count``. Items without a ``vote_average`` get null; an item
    with a rating but zero votes gets ``C`` (the formula's own limit).
    """
    rated = vote_average.notna() & (vote_count.fillna(0) > 0)
    if not rated.any():
        return pd.Series(np.nan, index=vote_average.index, dtype="float64"), {}
    c = float(vote_average[rated].mean())
    m = float(vote_count[rated].astype("float64").quantile(quantile))
    v = vote_count.astype("float64").fillna(0.0)
    r = vote_average.astype("float64")
    wr = (v / (v + m)) * r + (m / (v + m)) * c
    return wr.where(r.notna()).astype("float64"), {"C": c, "m": m, "quantile": quantile}


def finalize_items(items: pd.DataFrame, report: PrepareReport) -> pd.DataFrame:
    """Order columns, fill list columns, compute the weighted rating, validate."""
    items = items.copy()
    for col in LIST_COLUMNS:
        items[col] = pd.Series([as_list(v) for v in items[col]], index=items.index, dtype=object)
    items["weighted_rating"], params = weighted_rating(items["vote_average"], items["vote_count"])
    report.outputs["weighted_rating"] = params
    items = items[ITEM_COLUMNS].sort_values("item_id", kind="stable").reset_index(drop=True)
    return validate_items(items)


def finalize_interactions(
    interactions: pd.DataFrame, items: pd.DataFrame, spec: DatasetSpec, report: PrepareReport
) -> pd.DataFrame:
    """Drop rows off the catalog, merge duplicates (the latest wins), sort, validate."""
    inter = interactions[INTERACTION_COLUMNS].copy()
    off_catalog = ~inter["item_id"].isin(items["item_id"])
    report.record("interactions: item not in the catalog", "skipped", int(off_catalog.sum()),
                  inter.loc[off_catalog, "item_id"].head(3))
    inter = inter[~off_catalog]
    order = ["user_id", "item_id", "timestamp"] if spec.has_timestamps else ["user_id", "item_id"]
    inter = inter.sort_values(order, kind="stable")
    dup = inter.duplicated(["user_id", "item_id"], keep="last")
    report.record("interactions: duplicate (user_id, item_id); the latest rating kept", "merged",
                  int(dup.sum()), inter.loc[dup, ["user_id", "item_id"]].head(3).values.tolist())
    inter = inter[~dup].sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    return validate_interactions(inter, spec.rating_scale, items)


def _reader(spec: DatasetSpec) -> Callable[[Path, PrepareReport], PreparedTables]:
    if spec.name == "movies":
        from workbench.data.movies import read_movies

        return read_movies
    if spec.name == "anime":
        from workbench.data.anime import read_anime

        return read_anime
    if spec.name == "toy":
        from workbench.data.toy import read_toy

        return read_toy
    raise PrepareError(f"no reader registered for dataset {spec.name!r}")


def prepare(name: str, settings: Settings | None = None, seed: int | None = None) -> PrepareReport:
    """Prepare dataset ``name`` from its raw files into ``settings.processed_dir(name)``.

    Writes ``items.parquet``, ``interactions.parquet``, ``splits/`` and
    ``prepare_report.json``, each atomically. Returns the report.
    """
    settings = settings or get_settings()
    spec = get_dataset(name)
    seed = settings.seed if seed is None else seed
    report = PrepareReport(dataset=spec.name)
    tables = _reader(spec)(settings.raw_dir(spec.name), report)
    items = finalize_items(tables.items, report)
    interactions = finalize_interactions(tables.interactions, items, spec, report)
    out = settings.processed_dir(spec.name)
    split_manifest = split_mod.write_splits(interactions, spec, out / "splits", seed)
    write_parquet(out / "items.parquet", items)
    write_parquet(out / "interactions.parquet", interactions)
    report.outputs.update(
        items=len(items),
        items_with_text=int(items["text"].notna().sum()),
        items_rated=int(items["item_id"].isin(interactions["item_id"]).sum()),
        users=int(interactions["user_id"].nunique()),
        interactions=len(interactions),
        rating_scale=list(spec.rating_scale),
        has_timestamps=spec.has_timestamps,
        splits=split_manifest,
    )
    if not spec.has_timestamps:
        report.notes.append(
            "The source has no timestamps: the timestamp column is null for every row, and "
            "leave-last-out is a seeded random per-user leave-one-out."
        )
    write_json(out / REPORT_FILE, report.to_dict())
    return report


def load_report(name: str, settings: Settings | None = None) -> PrepareReport:
    """The prepare report of dataset ``name``."""
    settings = settings or get_settings()
    path = settings.processed_dir(name) / REPORT_FILE
    if not path.is_file():
        raise PrepareError(f"{path} is missing; run `workbench data prepare {name}` first")
    try:
        return PrepareReport.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise PrepareError(f"{path} is corrupt ({exc}); run `workbench data prepare {name}`")\
            from None
