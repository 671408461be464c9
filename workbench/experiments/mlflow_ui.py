"""The MLflow UI (3.x) for the sweeps: it opens on a table of every trained model with its
validation and test NDCG@10, sorted by validation, without a click.

What MLflow 3.17's UI lets a store or a link decide, and what this module does with it:

- **GenAI or model training** is the browser's choice (the switch at the top left, kept in
  the browser's local storage; GenAI until the user flips it), not the experiment's
  ``mlflow.experimentKind`` tag. A link's ``workflowType=machine_learning`` overrides it for
  that page only: the link printed here says so (a page reached from it by a click, a run's
  page, falls back to the browser's choice).
- **The runs table** (filter, sort, columns, their order and widths) can be stored as a
  *saved view* in the experiment tag ``mlflow.sharedViewState.<key>`` and opened by the link's
  ``viewStateShareKey=<key>`` (:func:`save_view`, :func:`ui_link`): the runs that logged the
  validation NDCG@10 (trained models, not content or hybrid runs, nor the sweep's parent),
  sorted by it, with the validation and test NDCG@10 as the first columns. Sorted by a
  metric, MLflow lists child runs flat instead of under a collapsed parent row.
- **The parent run** of each sweep invocation gets the same table as artifacts
  (``zoo_table.csv``, ``zoo_table.md``, ``zoo_ndcg.png``; :func:`publish_model_table`): the
  latest finished run of each variant.
- **Start-up**: ``mlflow ui`` starts four server processes and a job runner (GenAI jobs)
  by default, each importing MLflow: 15-35 s on two busy cores. :func:`ui_command` starts one
  process and no job runner (about 6 s there; MLflow's import bounds it).

Not in our hands (docs/sweeps.md): the Assistant panel MLflow opens by itself on a browser's
first visit to a local server, the telemetry notice on its home page, the "new Model
Registry UI" pop-up: each is shown once per browser and closed for good.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from workbench import WorkbenchError
from workbench.settings import Settings

VAL_METRIC = "val_full_ndcg_at_10"
"""The validation NDCG@10 the champion is chosen on (``workbench.collaborative.champion``)."""
TEST_METRIC = "test_full_ndcg_at_10"
VIEW_KEY = "models"
"""The saved view's key: ``viewStateShareKey=models`` in a link."""
VIEW_NAME = "Models by validation NDCG@10"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
PRIMARY_METRIC_TAG = "mlflow.experiment.primaryMetric.name"
"""The metric MLflow's run charts show first."""
HOST = "127.0.0.1"
TABLE = "zoo_table"
"""The parent run's artifacts: ``zoo_table.csv``, ``zoo_table.md``, ``zoo_ndcg.png``."""


class MlflowUiError(WorkbenchError):
    """The MLflow UI cannot be started (port in use, the server died or did not answer)."""


def _column(kind: str, name: str) -> str:
    """A column's key in MLflow's runs table (``metrics.`val_full_ndcg_at_10```)."""
    return f"{kind}.`{name}`"


def view_state(metrics: tuple[str, ...] = (VAL_METRIC, TEST_METRIC)) -> dict:
    """The runs table's state for the saved view: the runs that logged ``metrics[0]``,
    sorted by it (best first), the ``metrics`` as the first columns after the run's name."""
    shown = [_column("metrics", m) for m in metrics]
    name, source, models = (_column("attributes", c) for c in ("Run Name", "Source", "Models"))
    return {
        "searchFilter": f"metrics.{metrics[0]} >= 0", "orderByKey": shown[0],
        "orderByAsc": False, "startTime": "ALL", "lifecycleFilter": "Active",
        "datasetsFilter": [], "modelVersionFilter": "All Runs",
        "selectedColumns": [*shown, source, models],
        "columnOrder": [name, *shown, "runDateAndNestInfo", "duration", source, models],
        "columnWidths": {name: 210, **{column: 170 for column in shown}},
    }


def save_view(client, experiment_id: str) -> bool:
    """Store the saved view (:func:`view_state`) and the primary metric as tags of the
    experiment, unless they are there already; whether anything was written."""
    tags = client.get_experiment(experiment_id).tags
    state = view_state()
    try:
        current = json.loads(json.loads(tags.get(VIEW_TAG, "{}")).get("state", "null"))
    except (ValueError, AttributeError):
        current = None
    if current == state and tags.get(PRIMARY_METRIC_TAG) == VAL_METRIC:
        return False
    now = int(time.time() * 1000)
    client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(
        {"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}))
    client.set_experiment_tag(experiment_id, PRIMARY_METRIC_TAG, VAL_METRIC)
    return True


def ui_link(experiment_id: str, base_url: str = f"http://{HOST}:5000") -> str:
    """The link that opens the experiment's runs as model training on the saved view."""
    query = urlencode({"workflowType": "machine_learning", "viewStateShareKey": VIEW_KEY})
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def model_experiments(client) -> list:
    """The active experiments holding a run that logged the validation NDCG@10, by name."""
    found = []
    for experiment in client.search_experiments():
        if client.search_runs([experiment.experiment_id], max_results=1,
                              filter_string=f"metrics.{VAL_METRIC} >= 0"):
            found.append(experiment)
    return sorted(found, key=lambda e: e.name)


def _notebook_of(client, run) -> str | None:
    """The notebook a sweep's run executed, from papermill's record in the executed copy
    attached to the run (``notebook/<variant>.ipynb``); None without one."""
    import mlflow

    for artifact in client.list_artifacts(run.info.run_id, "notebook"):
        if artifact.path.endswith(".ipynb"):
            try:
                text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{artifact.path}")
                return json.loads(text)["metadata"]["papermill"]["input_path"]
            except (OSError, ValueError, KeyError, mlflow.exceptions.MlflowException):
                return None
    return None


def retag_runs(client, experiment_id: str) -> int:
    """Give the sweep runs recorded before these conventions their notebook as the source
    (not ``ipykernel_launcher.py``) and a trained model's run its short name
    (:func:`workbench.tracking.model_run_name`); how many runs changed."""
    from workbench import tracking
    from workbench.experiments.bookkeeping import TAG_VARIANT

    changed = 0
    for run in client.search_runs([experiment_id], max_results=5000,
                                  filter_string=f"tags.`{TAG_VARIANT}` != ''"):
        tags, params, touched = run.data.tags, run.data.params, False
        if not tags.get(tracking.SOURCE_NAME, "").endswith(".ipynb"):
            notebook = _notebook_of(client, run)
            for key, value in (tracking.source_tags(notebook) if notebook else {}).items():
                client.set_tag(run.info.run_id, key, value)
                touched = True
        if {"dataset", "model", "seed", "objective"} <= params.keys():
            old = "{dataset}-{model}-{objective}-s{seed}".format(**params)
            trial = run.info.run_name.endswith("-trial")
            if run.info.run_name in (old, f"{old}-trial"):
                client.update_run(run.info.run_id, name=tracking.model_run_name(
                    params["dataset"], params["model"], params["seed"], params["objective"],
                    trial))
                touched = True
        changed += touched
    return changed


def prepare(settings: Settings | None = None, base_url: str = f"http://{HOST}:5000",
            retag: bool = True) -> list[tuple[str, str]]:
    """For each experiment with trained models (:func:`model_experiments`): the saved view
    (:func:`save_view`), the older runs retagged (:func:`retag_runs`, with ``retag``);
    returns ``(experiment name, link)`` pairs."""
    import mlflow

    from workbench import tracking

    tracking.configure(settings)
    client = mlflow.MlflowClient()
    links = []
    for experiment in model_experiments(client):
        save_view(client, experiment.experiment_id)
        if retag:
            retag_runs(client, experiment.experiment_id)
        links.append((experiment.name, ui_link(experiment.experiment_id, base_url)))
    return links


def model_table(client, experiment_id: str, sweep: str):
    """The latest finished run of each variant of ``sweep`` that logged the validation
    NDCG@10 (tuning trials left out), best first: a DataFrame with ``model`` (the run's
    name), ``variant``, the validation and test NDCG@10, ``train_seconds`` and ``run_id``;
    None when there is none."""
    import pandas as pd

    from workbench.experiments.bookkeeping import TAG_SWEEP, TAG_VARIANT

    runs = client.search_runs(
        [experiment_id], max_results=5000, order_by=["attributes.start_time DESC"],
        filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and attributes.status = 'FINISHED' "
                      f"and metrics.{VAL_METRIC} >= 0")
    rows, seen = [], set()
    for run in runs:
        variant = run.data.tags.get(TAG_VARIANT, "")
        if variant in seen or run.data.params.get("trial") == "True":
            continue
        seen.add(variant)
        metrics = run.data.metrics
        rows.append({"model": run.info.run_name, "variant": variant,
                     "val NDCG@10": metrics[VAL_METRIC],
                     "test NDCG@10": metrics.get(TEST_METRIC, float("nan")),
                     "train_seconds": metrics.get("train_seconds", float("nan")),
                     "run_id": run.info.run_id})
    if not rows:
        return None
    return pd.DataFrame(rows).sort_values("val NDCG@10", ascending=False,
                                          ignore_index=True)


def table_figure(table, title: str):
    """Horizontal bars of the validation and test NDCG@10 of each model, best on top."""
    import matplotlib.pyplot as plt
    import numpy as np

    figure, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.8))
    ys = np.arange(len(table))[::-1]
    ax.barh(ys + 0.2, table["val NDCG@10"], 0.4, label="validation (chosen on)")
    ax.barh(ys - 0.2, table["test NDCG@10"], 0.4, label="test")
    ax.set_yticks(ys, table["model"])
    ax.set(xlabel="NDCG@10 (full ranking)", title=title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    figure.tight_layout()
    return figure


def publish_model_table(client, experiment_id: str, sweep: str, parent_id: str):
    """Log the sweep's model table (:func:`model_table`) to its parent run as
    ``zoo_table.csv``, ``zoo_table.md`` and ``zoo_ndcg.png``, and store the experiment's
    saved view (:func:`save_view`); the table, or None when no variant trained a model."""
    import matplotlib.pyplot as plt

    from workbench.experiments.report import markdown_table

    table = model_table(client, experiment_id, sweep)
    if table is None:
        return None
    save_view(client, experiment_id)
    client.log_text(parent_id, table.to_csv(index=False), f"{TABLE}.csv")
    client.log_text(parent_id, markdown_table(table) + "\n", f"{TABLE}.md")
    figure = table_figure(table, f"{sweep}: NDCG@10 by model")
    client.log_figure(parent_id, figure, "zoo_ndcg.png")
    plt.close(figure)
    return table


def ui_command(backend_store_uri: str, port: int, workers: int = 1) -> list[str]:
    """The ``mlflow ui`` command line on 127.0.0.1:``port`` with ``workers`` processes."""
    mlflow = Path(sys.executable).parent / "mlflow"
    return [str(mlflow) if mlflow.is_file() else "mlflow", "ui", "--backend-store-uri",
            backend_store_uri, "--host", HOST, "--port", str(port), "--workers", str(workers)]


UI_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
"""No job runner (GenAI jobs: judges, trace roll-ups), no telemetry."""


@contextmanager
def ui_server(backend_store_uri: str, port: int, log: Path, workers: int = 1
              ) -> Iterator[subprocess.Popen]:
    """Start ``mlflow ui`` (:func:`ui_command`, :data:`UI_ENV`; its output appended to
    ``log``) and yield its process at once; it is stopped, process group and all, when the
    block ends. :func:`wait_ready` waits for it to answer."""
    import os
    import signal

    from workbench.tracking_server import port_in_use

    if port_in_use(port):
        raise MlflowUiError(f"port {port} is in use: choose another one (MLFLOW_PORT=5001 "
                            f"make mlflow-ui, or --port)")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        process = subprocess.Popen(ui_command(backend_store_uri, port, workers), stdout=sink,
                                   stderr=sink, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **UI_ENV}, start_new_session=True)
    try:
        yield process
    finally:
        for number in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, number)
                process.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def wait_ready(process: subprocess.Popen, port: int, log: Path,
               timeout_s: float = 120) -> float:
    """Wait until the UI on ``port`` answers; the seconds since the call. An
    :class:`MlflowUiError` naming the log when the server exits or stays silent."""
    from workbench.tracking_server import server_answers

    started = time.monotonic()
    while not server_answers(f"http://{HOST}:{port}", timeout_s=1):
        if process.poll() is not None:
            raise MlflowUiError(f"mlflow ui exited at start-up (exit code "
                                f"{process.returncode}); its log: {log}")
        if time.monotonic() - started > timeout_s:
            raise MlflowUiError(f"mlflow ui did not answer within {timeout_s:g} s; its log: "
                                f"{log}")
        time.sleep(0.2)
    return time.monotonic() - started
