"""Seeded train/test splits, stored next to the prepared data in ``splits/``.

- ``leave_last_out``: for every user with at least two interactions, the latest one (by
  timestamp, ties broken at random with the seed) is the test item; the NCF protocol. Where a
  dataset has no timestamps (the anime sample) it is a seeded random per-user leave-one-out;
  the manifest says which.
- ``random_holdout``: a seeded random ``HOLDOUT_FRACTION`` of each user's interactions is held
  out (users with one interaction keep it in train), for rating prediction.

Each split is ``splits/<name>.parquet`` with ``user_id``, ``item_id``, ``split`` (train/test)
and ``splits/manifest.json`` with the method, seed and counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow

from workbench import WorkbenchError
from workbench.data.registry import DatasetSpec
from workbench.storage import write_json, write_parquet

SPLIT_NAMES = ("leave_last_out", "random_holdout")
HOLDOUT_FRACTION = 0.2
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Split:
    """Train and test interactions (full rows: user_id, item_id, rating, timestamp)."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    manifest: dict


def leave_last_out(interactions: pd.DataFrame, seed: int, by_time: bool = True) -> pd.Series:
    """Boolean test mask: each user's latest interaction (random one when not ``by_time``)."""
    rng = np.random.default_rng(seed)
    tiebreak = pd.Series(rng.random(len(interactions)), index=interactions.index)
    keys = pd.DataFrame({"user_id": interactions["user_id"], "tiebreak": tiebreak})
    if by_time:
        keys["time"] = interactions["timestamp"].astype("float64").fillna(-np.inf)
        order = keys.sort_values(["user_id", "time", "tiebreak"], kind="stable")
    else:
        order = keys.sort_values(["user_id", "tiebreak"], kind="stable")
    last = ~order["user_id"].duplicated(keep="last")
    several = order["user_id"].map(order["user_id"].value_counts()) >= 2
    return (last & several).reindex(interactions.index)


def random_holdout(
    interactions: pd.DataFrame, seed: int, fraction: float = HOLDOUT_FRACTION
) -> pd.Series:
    """Boolean test mask: a random ``fraction`` of each user's interactions, at least one left."""
    if not 0 < fraction < 1:
        raise WorkbenchError(f"holdout fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    rank = pd.Series(rng.random(len(interactions)), index=interactions.index)
    position = rank.groupby(interactions["user_id"]).rank(method="first") - 1
    size = interactions.groupby("user_id")["user_id"].transform("size")
    n_test = np.minimum(np.floor(size * fraction + 0.5), size - 1)
    return position < n_test


def write_splits(
    interactions: pd.DataFrame, spec: DatasetSpec, folder: Path, seed: int
) -> dict[str, dict]:
    """Compute both splits, write them atomically to ``folder``, return the manifest."""
    masks = {
        "leave_last_out": leave_last_out(interactions, seed, by_time=spec.has_timestamps),
        "random_holdout": random_holdout(interactions, seed),
    }
    methods = {
        "leave_last_out": "per-user latest interaction by timestamp"
        if spec.has_timestamps
        else "per-user random leave-one-out (no timestamps in the source)",
        "random_holdout": f"per-user random {HOLDOUT_FRACTION:.0%} holdout",
    }
    manifest = {}
    for name, is_test in masks.items():
        table = interactions[["user_id", "item_id"]].assign(
            split=np.where(is_test, "test", "train")
        )
        write_parquet(folder / f"{name}.parquet", table)
        manifest[name] = {
            "method": methods[name],
            "seed": seed,
            "train": int((~is_test).sum()),
            "test": int(is_test.sum()),
            "test_users": int(interactions.loc[is_test, "user_id"].nunique()),
        }
    write_json(folder / MANIFEST, manifest)
    return manifest


def read_split(processed_dir: Path, interactions: pd.DataFrame, name: str) -> Split:
    """Read split ``name`` from ``processed_dir/splits`` and apply it to ``interactions``."""
    if name not in SPLIT_NAMES:
        raise WorkbenchError(f"unknown split {name!r}; known splits: {', '.join(SPLIT_NAMES)}")
    folder = processed_dir / "splits"
    path = folder / f"{name}.parquet"
    if not path.is_file():
        raise WorkbenchError(f"{path} is missing; run `workbench data prepare` for this dataset")
    try:
        labels = pd.read_parquet(path)
        manifest = json.loads((folder / MANIFEST).read_text()).get(name, {})
    except (OSError, ValueError, pyarrow.ArrowException) as exc:  # truncated, garbled
        raise WorkbenchError(f"{path.parent} holds a damaged split file ({exc}); rerun "
                             f"`workbench data prepare` for this dataset (or `make pipeline`)"
                             ) from None
    merged = interactions.merge(labels, on=["user_id", "item_id"], how="left", validate="1:1")
    if merged["split"].isna().any():
        raise WorkbenchError(
            f"{path} does not match interactions.parquet; rerun `workbench data prepare`"
        )
    is_test = merged.pop("split") == "test"
    return Split(
        name,
        merged[~is_test].reset_index(drop=True),
        merged[is_test].reset_index(drop=True),
        manifest,
    )
