"""Prepare a dataset: raw files -> validated ``items.parquet`` and ``interactions.parquet``.

Every dataset goes through the same steps: the reader its spec names (``movies``, ``anime``,
``toy``; helpers in :mod:`workbench.data.readers`) maps its sources to the schema of
:mod:`workbench.data.schema`, then this module
removes duplicate interactions, computes the IMDB weighted rating, validates both tables,
writes them atomically with the splits (:mod:`workbench.data.splits`) and a prepare report.

Nothing is dropped silently: every malformed or placeholder value that is nulled, and every
row that is skipped, is counted under a named reason in ``prepare_report.json`` with a few
examples.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data import splits as split_mod
from workbench.data.readers import (  # noqa: F401  (re-exported: the readers' helpers)
    Issue,
    PreparedTables,
    PrepareError,
    PrepareReport,
    as_list,
    clean_text,
    null_where,
    parse_numbers,
    read_source_csv,
    require_columns,
    split_list,
)
from workbench.data.registry import DatasetSpec, get_dataset
from workbench.data.schema import (
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    LIST_COLUMNS,
    SchemaError,
    validate_interactions,
    validate_items,
)
from workbench.settings import Settings, get_settings
from workbench.storage import write_json, write_parquet

WEIGHTED_RATING_QUANTILE = 0.90
"""m in the IMDB formula is this quantile of vote_count among items with votes."""

REPORT_FILE = "prepare_report.json"


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


def require_rows(table: pd.DataFrame, what: str, spec: DatasetSpec,
                 report: PrepareReport) -> None:
    """Refuse a dataset left with no ``what`` (item, interaction) rows: a file with only a
    header, or every row skipped; the error names the rows read and why they were skipped."""
    if len(table):
        return
    read = ", ".join(f"{name} {rows:,}" for name, rows in report.inputs.items()) or "none"
    skipped = [f"{reason} ({issue.count:,})" for reason, issue in report.issues.items()
               if issue.action == "skipped"][:3]
    why = f"; skipped: {'; '.join(skipped)}" if skipped else ""
    where = f" (spec {spec.origin})" if spec.origin else ""
    raise PrepareError(f"dataset {spec.name}{where}: no {what} left to prepare (data rows read: "
                       f"{read}{why}); fix the data or the spec's column mapping")


def _reader(spec: DatasetSpec) -> Callable[[Path, PrepareReport], PreparedTables]:
    """The dataset's reader function, imported from its spec's ``module:function``."""
    from importlib import import_module

    module, _, function = spec.reader.partition(":")
    try:
        return getattr(import_module(module), function)
    except (ImportError, AttributeError, ValueError):
        raise PrepareError(f"dataset {spec.name!r} names the reader {spec.reader!r}, which "
                           f"cannot be imported (expected 'package.module:function')") from None


def prepare(name: str, settings: Settings | None = None, seed: int | None = None) -> PrepareReport:
    """Prepare dataset ``name`` from its raw files into ``settings.processed_dir(name)``.

    Writes ``items.parquet``, ``interactions.parquet``, ``splits/`` and
    ``prepare_report.json``, each atomically. Returns the report.
    """
    settings = settings or get_settings()
    spec = get_dataset(name, settings)
    seed = settings.seed if seed is None else seed
    report = PrepareReport(dataset=spec.name)
    tables = _reader(spec)(settings.raw_dir(spec.name), report, spec)
    require_rows(tables.items, "item", spec, report)
    try:
        items = finalize_items(tables.items, report)
        interactions = finalize_interactions(tables.interactions, items, spec, report)
        require_rows(interactions, "interaction", spec, report)
    except SchemaError as exc:
        if not spec.origin:
            raise
        raise SchemaError(f"dataset {spec.name} (spec {spec.origin}): {exc}\nfix the data, or "
                          f"the spec (rating_scale, the column mapping)") from None
    out = settings.processed_dir(spec.name)
    split_manifest = split_mod.write_splits(interactions, spec, out / "splits", seed)
    write_parquet(out / "items.parquet", items)
    write_parquet(out / "interactions.parquet", interactions)
    report.outputs.update(
        items=len(items),
        items_with_text=int(items["text"].notna().sum()),
        items_rated=int(items["item_id"].isin(interactions["item_id"]).sum()),
        items_rated_with_text=int((items["item_id"].isin(interactions["item_id"])
                                   & items["text"].notna()).sum()),
        users=int(interactions["user_id"].nunique()),
        interactions=len(interactions),
        rating_scale=list(spec.rating_scale),
        has_timestamps=spec.has_timestamps,
        splits=split_manifest,
    )
    rated, covered = report.outputs["items_rated"], report.outputs["items_rated_with_text"]
    report.notes.append(f"Plot text: {covered:,} of the {rated:,} rated items "
                        f"({covered / max(rated, 1):.1%}); {report.outputs['items_with_text']:,} "
                        f"of all {len(items):,} catalog items.")
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
