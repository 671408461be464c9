"""The main job, `make pipeline`: every dataset from raw files to a served champion.

For each dataset: fetch, prepare, build the content index unless it is up to date (loads,
same configuration, same catalog), run the dataset's default sweep
(``experiments/<dataset>_default.yaml``; written from a template for a dataset of the
user's own that has none), make sure the registry's champion is copied into ``models/``,
and register the hybrid recommender as ``<dataset>-hybrid`` (:mod:`workbench.serving`) when
the champion or the index changed. Then the summary table of the datasets and each sweep's
headline metrics. Finished sweep variants are skipped, so a second run with nothing changed
only checks.

The sweeps run on the local process pool (``jobs`` variants at a time), or, when
``settings.ray_address`` names a Ray cluster (``workbench pipeline --ray ADDRESS``), as Ray
tasks there: the cluster is connected once, before the first dataset is fetched, so an address
that does not answer is refused in one line before anything runs (docs/cluster.md).

One pipeline runs on a home at a time: it holds a file lock in ``experiments/runs/``
(:func:`pipeline_lock`), and a second one started meanwhile stops at once, naming the first's
process (it would repeat every variant the first is training and register each model twice).

``log`` receives every line (the CLI passes ``typer.echo``); ``on_sweep`` each sweep's
report as it finishes.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import WorkbenchError
from workbench.settings import Settings, get_settings

SHORT_METRICS = {"genre_precision_at_10": "genre P@10", "test_query_recall_at_10": "query R@10",
                 "test_query_mrr": "query MRR", "val_full_ndcg_at_10": "val NDCG@10",
                 "test_full_ndcg_at_10": "test NDCG@10", "best_alpha": "alpha",
                 "test_ndcg_at_10": "hybrid test NDCG@10"}
"""Column names of the pipeline's sweep report (query metrics are on the test queries)."""


@dataclass
class PipelineResult:
    """What the pipeline did: each dataset's sweep and its report, and the time it took."""

    datasets: list[str]
    sweeps: list[tuple[Any, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(report.failed for _, report in self.sweeps)


def _short_metric(name: str) -> str:
    return SHORT_METRICS.get(name, name.replace("_at_", "@"))


def find_sweep(name: str, settings: Settings | None = None):
    """A sweep by file path, name (``<experiments_dir>/<name>.yaml``, then the checkout's
    ``experiments/<name>.yaml``) or MLflow experiment (:func:`workbench.experiments.names.
    find_sweep`)."""
    from workbench.experiments.names import find_sweep as find

    return find(name, settings)


def default_sweep(dataset: str, settings: Settings | None = None,
                  log: Callable[[str], Any] = print):
    """The dataset's default sweep; for a dataset of the user's own without one, a generated
    one is written first (and said so)."""
    from workbench.data import get_dataset
    from workbench.experiments.spec import write_default_sweep

    settings = settings or get_settings()
    try:
        sweep = find_sweep(f"{dataset}_default", settings)
    except WorkbenchError:
        if get_dataset(dataset, settings).layout is None:
            raise
    else:
        _note_old_generated_sweep(settings.sweep_file(f"{dataset}_default"), log)
        return sweep
    path = write_default_sweep(dataset, settings)
    log(f"   no default sweep for {dataset}: wrote {path} (edit it to change what the "
        f"pipeline runs)")
    return find_sweep(str(path), settings)


def _note_old_generated_sweep(path: Path, log: Callable[[str], Any]) -> None:
    """Say so when ``path`` is a default sweep generated before notebook 03 stopped saving
    and registering by default (2026-12-04): its zoo would no longer move the champion."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    if text.startswith("# The default sweep of the dataset") and "register_model" not in text:
        log(f"   note: {path} was generated before models had to be asked for: add "
            f"`parameters: {{save_model: true, register_model: true}}` to its zoo variant, "
            f"or its runs save and register nothing (the champion stays as it is)")


def summaries_table(names: list[str], settings: Settings | None = None) -> str:
    """The summary table of prepared datasets (one column each)."""
    from workbench.data import load_interactions, load_items, load_report
    from workbench.data.overview import format_summaries, summarize

    summaries = [summarize(n, load_items(n, settings), load_interactions(n, settings),
                           load_report(n, settings)) for n in names]
    return format_summaries(summaries)


def sweep_summary(sweep, settings: Settings | None = None) -> str:
    """The headline metrics of a sweep's latest runs, and the registry's champion."""
    import mlflow

    from workbench.collaborative.champion import SELECTION_METRIC, registered_champion
    from workbench.experiments import sweep_runs

    runs = sweep_runs(sweep, settings)
    lines = [f"{sweep.name}: latest run of each variant"]
    columns = [c for c in sweep.compare if c in runs.columns]
    # one narrow table per kind of variant (content, models, hybrid): each shows only the
    # metrics its rows have, under short names, so the report fits 100 columns
    kinds = runs[columns].notna().apply(tuple, axis=1)
    for kind in dict.fromkeys(kinds):
        shown = [c for c, has in zip(columns, kind, strict=True) if has]
        table = runs.loc[kinds == kind, ["variant", "status", *shown]]
        lines.append(table.rename(columns=_short_metric).to_string(
            index=False, float_format=lambda v: f"{v:.4f}", na_rep="") + "\n")
    dataset = sweep.parameters.get("dataset")
    champion = registered_champion(dataset, settings)
    if champion is None:
        lines.append(f"no champion registered for {dataset}")
    else:
        try:
            model = mlflow.MlflowClient().get_run(champion.run_id).data.params.get("model", "?")
        except mlflow.exceptions.MlflowException:  # its run deleted since: the rest still holds
            model = "?"
        metric = champion.tags.get("selected_by", SELECTION_METRIC)
        lines.append(textwrap.fill(  # a long dataset name: two lines, never past 100 columns
            f"champion {champion.name}: version {champion.version}, {model}, chosen on "
            f"{_short_metric(metric)} {float(champion.tags.get(metric, 'nan')):.4f}; test "
            f"NDCG@10 {float(champion.tags.get('test_full_ndcg_at_10', 'nan')):.4f}",
            width=100, subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join(lines)


def example_request(dataset: str, settings: Settings | None = None) -> str:
    """A `workbench recommend` line that answers on ``dataset``: its demo query (see
    :class:`DatasetSpec`), else "more like" its first rated item, for its first user."""
    from workbench.data import get_dataset, load_interactions

    first = load_interactions(dataset, settings).iloc[0]
    query = get_dataset(dataset, settings).demo_query
    what = f'--query "{query}"' if query else f"--item {int(first.item_id)}"
    return f".venv/bin/workbench recommend --dataset {dataset} {what} --user {int(first.user_id)}"


LOCK_FILE = "pipeline.lock"
OWNER_FILE = "pipeline.owner"
"""Beside the lock: the pid and start time of the pipeline holding it (for the refusal)."""


class PipelineBusy(WorkbenchError):
    """Another pipeline holds this home's lock."""


@contextmanager
def pipeline_lock(settings: Settings | None = None) -> Iterator[None]:
    """Hold this home's pipeline lock (``<experiments_dir>/runs/pipeline.lock``) for the
    block; :class:`PipelineBusy`, naming the holder's pid, when another process holds it.
    The lock is the operating system's (``filelock``): a killed pipeline leaves no stale
    one."""
    from filelock import Timeout

    from workbench.storage import file_lock, write_text

    settings = settings or get_settings()
    folder = settings.runs_dir
    lock = file_lock(folder / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            owner = (folder / OWNER_FILE).read_text().strip() or "pid unknown"
        except OSError:
            owner = "pid unknown"
        raise PipelineBusy(f"another pipeline is running on this home ({owner}); wait for it "
                           f"to finish (it does this work) or stop it, then run this one "
                           f"again") from None
    try:
        write_text(folder / OWNER_FILE,
                   f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        yield
    finally:
        (folder / OWNER_FILE).unlink(missing_ok=True)  # never name a finished pipeline
        lock.release()


def run_pipeline(datasets: list[str] | None = None, jobs: int = 2,
                 settings: Settings | None = None, log: Callable[[str], Any] = print,
                 on_sweep: Callable[[Any], Any] | None = None) -> PipelineResult:
    """Run the main job on ``datasets`` (default: movies, anime and ml1m,
    :data:`~workbench.data.registry.PIPELINE_DATASETS`); see the module docstring."""
    from contextlib import nullcontext

    from workbench.data.registry import PIPELINE_DATASETS
    from workbench.experiments.ray_executor import sweep_executor

    settings = settings or get_settings()
    names = datasets or list(PIPELINE_DATASETS)
    started = time.perf_counter()
    result = PipelineResult(names)
    with pipeline_lock(settings):
        executor = sweep_executor(settings.ray_address, jobs, settings)
        if executor is not None:
            log(f"== sweeps run on the Ray cluster at {settings.ray_address} "
                f"({executor.slots} at a time)")
        with executor or nullcontext():
            for name in names:
                result.sweeps.append(_run_dataset(name, jobs, settings, log, on_sweep,
                                                  executor))
    log("")
    log(summaries_table(names, settings))
    for sweep, _ in result.sweeps:
        log("")
        log(sweep_summary(sweep, settings))
    result.seconds = time.perf_counter() - started
    return result


def _run_dataset(name: str, jobs: int, settings: Settings, log: Callable[[str], Any],
                 on_sweep: Callable[[Any], Any] | None, executor=None) -> tuple[Any, Any]:
    """One dataset of the main job, from fetch to the registered hybrid; its sweep and the
    sweep's report. ``executor``: where the sweep's variants run (None: a local pool of
    ``jobs``)."""
    from workbench.collaborative.champion import sync_champion
    from workbench.console import library_log
    from workbench.content import ContentConfig, build_content_index, index_is_current
    from workbench.data import fetch, prepare
    from workbench.experiments import run_sweep
    from workbench.serving import ServingError, log_hybrid

    log(f"== {name}: fetch")
    for f in fetch(name, settings):
        log(f"   {f.name:<28} {f.source}")
    log(f"== {name}: prepare")
    prepare(name, settings)
    config = ContentConfig(dataset=name)
    if index_is_current(config, settings):
        log(f"== {name}: content index up to date")
    else:
        log(f"== {name}: content index")
        _, report = build_content_index(config, settings)
        log(f"   {report.items:,} items, {report.embedding.embedded:,} embedded, "
            f"dim {report.dim}, {report.seconds['total']:.1f}s")
    sweep = default_sweep(name, settings, log)
    log(f"== {name}: sweep {sweep.name} (MLflow experiment {sweep.experiment})")
    report = run_sweep(sweep, settings, jobs=jobs, executor=executor)
    if on_sweep is not None:
        on_sweep(report)
    log(f"== {name}: {sync_champion(name, settings)}")
    try:
        quiet = library_log(settings)
        log(f"== {name}: {log_hybrid(name, settings, quiet_log=quiet)}")
    except ServingError as exc:  # no champion yet: nothing to serve
        log(f"== {name}: hybrid not registered ({exc})")
    return sweep, report
