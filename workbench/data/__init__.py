"""Data layer: dataset registry, fetch, prepare, the common schema, splits and a toy dataset.

Typical use::

    from workbench import data
    data.fetch("movies")             # raw files, sha256-verified, into data/raw/movies
    data.prepare("movies")           # items/interactions parquet + splits + report
    items = data.load_items("movies")
    split = data.load_split("movies", "leave_last_out")
"""

from __future__ import annotations

import pandas as pd
import pyarrow

from workbench import WorkbenchError
from workbench.data.fetch import FetchError, fetch
from workbench.data.prepare import PrepareError, PrepareReport, as_list, load_report, prepare
from workbench.data.registry import DATASETS, DatasetSpec, all_datasets, get_dataset
from workbench.data.schema import (
    LIST_COLUMNS,
    SchemaError,
    display_title,
    safe_image_url,
    validate_interactions,
    validate_items,
)
from workbench.data.splits import SPLIT_NAMES, Split, read_split
from workbench.settings import Settings, get_settings

__all__ = [
    "DATASETS",
    "SPLIT_NAMES",
    "DatasetSpec",
    "FetchError",
    "PrepareError",
    "PrepareReport",
    "SchemaError",
    "Split",
    "all_datasets",
    "display_title",
    "fetch",
    "get_dataset",
    "load_interactions",
    "load_items",
    "load_report",
    "load_split",
    "prepare",
    "safe_image_url",
]


def _read_table(name: str, table: str, settings: Settings) -> pd.DataFrame:
    get_dataset(name, settings)
    path = settings.processed_dir(name) / f"{table}.parquet"
    if not path.is_file():
        raise WorkbenchError(
            f"{path} is missing; run `workbench data prepare {name}` (or `make pipeline`)"
        )
    try:
        return pd.read_parquet(path)
    except (OSError, pyarrow.ArrowException) as exc:
        raise WorkbenchError(
            f"{path} is corrupt ({exc}); rerun `workbench data prepare {name}`"
        ) from None


def load_items(name: str, settings: Settings | None = None) -> pd.DataFrame:
    """The validated items table of a prepared dataset (list columns as Python lists)."""
    settings = settings or get_settings()
    items = _read_table(name, "items", settings)
    for col in LIST_COLUMNS:
        if col in items.columns:
            items[col] = pd.Series([as_list(v) for v in items[col]], index=items.index,
                                   dtype=object)
    return validate_items(items, table=f"{name}/items.parquet")


def load_interactions(name: str, settings: Settings | None = None) -> pd.DataFrame:
    """The validated interactions table of a prepared dataset."""
    settings = settings or get_settings()
    inter = _read_table(name, "interactions", settings)
    return validate_interactions(inter, get_dataset(name, settings).rating_scale,
                                 table=f"{name}/interactions.parquet")


def load_split(
    name: str, split: str = "leave_last_out", settings: Settings | None = None
) -> Split:
    """Train/test interactions of split ``split`` (see :mod:`workbench.data.splits`)."""
    settings = settings or get_settings()
    return read_split(settings.processed_dir(name), load_interactions(name, settings), split)
