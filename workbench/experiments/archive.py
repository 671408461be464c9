"""The results page's archive: what each dataset's section was generated from, kept beside
the page (``docs/results/<dataset>.json`` and ``<dataset>.per_user.parquet``) so its rows
outlive the store they came from.

A zoo on ml1m takes longer than one session of a laptop or of a lent machine: the peers run
here today, the Keras models on a GPU tomorrow, each in its own home with its own MLflow
store. ``workbench report`` reads the archive of a dataset together with the store, and
writes back what the section now shows:

- **zoo runs**, one row per run (parameters, sweep tags, start time, the zoo's metrics) and
  each run's per-user test table (``ndcg_at_10``, ``recall_at_10``, the segment columns),
  which the p-values and the per-segment tables need. A run the store holds replaces its
  archived copy (same run id), and a sweep variant rerun in the store replaces the archived
  run of that variant (the latest run of each variant counts, as in the store);
- **tuning studies**, one row per model: the store's study of a model replaces the
  archived row of that model;
- **the default sweep's table**: the store's if it has one.

The archive holds only what the page shows (no models, no notebooks): those stay with MLflow.
Its files are written atomically. A missing archive is an empty one; an unreadable one stops
the report with one line naming the file (restore it from git, or delete it to start
afresh), never silently replaced by what one store holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from workbench import WorkbenchError
from workbench.storage import atomic_path, write_json

PER_USER_COLUMNS = ("ndcg_at_10", "recall_at_10", "history", "item_popularity",
                    "user_segment", "item_segment")
"""The per-user test table's columns that the page uses (beside ``user_id``)."""


@dataclass
class Archive:
    """One dataset's archived zoo runs (MLflow's ``search_runs`` columns), their per-user
    tables (``run_id``, ``user_id`` and :data:`PER_USER_COLUMNS`), its study rows and its
    default-sweep table (Markdown)."""

    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    per_user: pd.DataFrame = field(default_factory=pd.DataFrame)
    studies: list[dict] = field(default_factory=list)
    default_sweep: str = ""

    def table(self, run_id: str) -> pd.DataFrame | None:
        """The per-user test table of an archived run (None when it has none)."""
        if self.per_user.empty:
            return None
        rows = self.per_user[self.per_user["run_id"] == run_id]
        return None if rows.empty else rows.drop(columns="run_id").reset_index(drop=True)


def archive_dir(page: Path) -> Path:
    """Where the archive of results page ``page`` lives: ``results/`` beside it."""
    return Path(page).parent / Path(page).stem


def _paths(directory: Path, dataset: str) -> tuple[Path, Path]:
    return directory / f"{dataset}.json", directory / f"{dataset}.per_user.parquet"


def read_archive(directory: Path, dataset: str) -> Archive:
    """The archive of ``dataset`` in ``directory`` (empty when there is none); one that
    cannot be read is a :class:`WorkbenchError` naming the file."""
    summary, tables = _paths(directory, dataset)
    if not summary.is_file():
        return Archive()
    try:
        doc = json.loads(summary.read_text(encoding="utf-8"))
        runs = pd.DataFrame(doc.get("runs") or [])
        if "start_time" in runs.columns:
            runs["start_time"] = pd.to_datetime(runs["start_time"], utc=True, format="ISO8601")
        per_user = pd.read_parquet(tables) if tables.is_file() else pd.DataFrame()
        return Archive(runs, per_user, list(doc.get("studies") or []),
                       str(doc.get("default_sweep") or ""))
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise WorkbenchError(
            f"the results archive {summary} (or {tables.name}) cannot be read ({exc}); restore "
            f"it (git checkout -- {summary.parent}) or delete both files to start a new "
            f"one") from None


def write_archive(directory: Path, dataset: str, archive: Archive) -> list[Path]:
    """Write ``archive`` as ``<dataset>.json`` and ``<dataset>.per_user.parquet`` in
    ``directory`` (each atomically). Returns the paths written."""
    summary, tables = _paths(directory, dataset)
    runs = archive.runs.copy()
    if "start_time" in runs.columns:
        runs["start_time"] = runs["start_time"].map(lambda t: pd.Timestamp(t).isoformat())
    records = json.loads(runs.to_json(orient="records")) if not runs.empty else []
    write_json(summary, {
        "dataset": dataset,
        "about": "what docs/results.md shows for this dataset, written by `workbench report`",
        "runs": records, "studies": archive.studies, "default_sweep": archive.default_sweep})
    written = [summary]
    if not archive.per_user.empty:
        with atomic_path(tables, suffix=".parquet") as tmp:  # zstd: half of snappy's size
            archive.per_user.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        written.append(tables)
    elif tables.is_file():
        tables.unlink()
    return written


def merge_runs(store: pd.DataFrame | None, archived: pd.DataFrame) -> pd.DataFrame:
    """The store's runs and the archived runs that the store does not hold (by run id);
    :func:`~workbench.experiments.results.latest_per_variant` then keeps each sweep
    variant's latest of them."""
    if store is None or store.empty:
        return archived.copy()
    if archived.empty:
        return store
    archived = archived[~archived["run_id"].isin(store["run_id"])]
    return store if archived.empty else pd.concat([store, archived], ignore_index=True)


def merge_studies(store: list[dict], archived: list[dict]) -> list[dict]:
    """Study rows by model: the store's row of a model replaces the archived one."""
    mine = {row.get("model") for row in store}
    return [row for row in archived if row.get("model") not in mine] + list(store)


def archived_runs(runs: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """The columns of ``runs`` an archive keeps: run id, start time, parameters, the
    workbench's tags, and ``metrics``; columns by name and rows by start time, so that a
    report that adds nothing rewrites the archive byte for byte (MLflow's column order
    varies from one search to the next)."""
    keep = sorted((c for c in runs.columns if c.startswith("params.")
                   or c.startswith("tags.workbench.") or c.removeprefix("metrics.") in metrics),
                  key=lambda c: (not c.startswith("metrics."), c))
    keep = [c for c in ("run_id", "start_time") if c in runs.columns] + keep
    order = [c for c in ("start_time", "run_id") if c in runs.columns]
    return (runs.sort_values(order) if order else runs)[keep].dropna(
        axis=1, how="all").reset_index(drop=True)
