"""MLflow tracking: one place that points MLflow at the configured store and opens runs.

The tracking URI comes from :attr:`workbench.settings.Settings.mlflow_uri` (a SQLite store
under ``experiments/`` by default; ``WORKBENCH_MLFLOW_URI`` for a shared server). MLflow's
telemetry is switched off unless the user set it, since the workbench makes no network calls
that a user did not configure.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench import WorkbenchError
from workbench.settings import CHECKOUT, Settings, get_settings

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Loading the champion downloads its artifacts; a progress bar would land in the dashboard.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow


class TrackingError(WorkbenchError):
    """The MLflow store cannot be used (damaged, unreadable)."""


@functools.lru_cache(maxsize=8)
def _store_problem(path: str, _mtime_ns: int, _size: int) -> str | None:
    """What is wrong with a SQLite store file (None: nothing); remembered per file version."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                                timeout=30)) as db:
            answer = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # another process is writing: busy, not damaged
        return str(exc)
    except sqlite3.Error as exc:
        return str(exc)
    return None if answer and answer[0] == "ok" else str(answer[0] if answer else "no answer")


LOCATION_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("model_versions", "source"), ("model_versions", "storage_location"),
                    ("logged_models", "artifact_location"))
"""Where MLflow's SQLite store records absolute artifact locations."""


def _recorded_homes(db, here: str) -> set[str]:
    """The experiments folders other than ``here`` (as file-URI text) that the store's
    experiments keep their artifacts under (``<folder>/mlartifacts/<name>``)."""
    homes = set()
    for (location,) in db.execute("SELECT artifact_location FROM experiments"):
        if location and location.startswith("file://") and "/mlartifacts/" in location:
            folder = location.rsplit("/mlartifacts/", 1)[0]
            if folder != here:
                homes.add(folder)
    return homes


DEFAULT_EXPERIMENT = "0"
"""MLflow's "Default" experiment: created with the store, its artifacts in ``./mlruns/0`` of
whatever folder the first command ran in."""


def _default_experiment_home(db, here: str) -> int:
    """Point the "Default" experiment's artifacts at ``<here>/mlartifacts/Default`` when they
    are anywhere else (the folder the store was created from, or another home's after a copy):
    a run logged there (``mlflow.start_run()`` without an experiment) stays in this home. Its
    existing runs keep their artifact locations (the files are where they were written).
    How many values changed (0 or 1)."""
    row = db.execute("SELECT artifact_location FROM experiments WHERE experiment_id = ?",
                     (int(DEFAULT_EXPERIMENT),)).fetchone()
    if row is None or (row[0] or "").startswith(here + "/"):
        return 0  # read first: most calls change nothing and take no write lock
    return db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                      (f"{here}/mlartifacts/Default", int(DEFAULT_EXPERIMENT))).rowcount


@functools.lru_cache(maxsize=8)
def _relocate(path: str, here: str, _mtime_ns: int, _size: int) -> int:
    """Rewrite the artifact locations of a store that was copied or moved along with its
    experiments folder, from the old folder to ``here``; how many values changed."""
    import sqlite3

    changed = 0
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db, db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "experiments" not in tables:
                return 0
            changed += _default_experiment_home(db, here)
            for old in _recorded_homes(db, here):
                for table, column in LOCATION_COLUMNS:
                    if table not in tables:
                        continue
                    changed += db.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                        f"WHERE substr({column}, 1, ?) = ?",
                        (here, len(old) + 1, len(old) + 1, old + "/")).rowcount
    except sqlite3.OperationalError:  # busy: another process writes; try on the next call
        _relocate.cache_clear()
        return 0
    return changed


def relocate_artifacts(settings: Settings | None = None) -> int:
    """Make a copied or moved home log into (and read from) its own ``mlartifacts/``.

    MLflow's SQLite store records absolute ``file://`` artifact locations. When the store
    lives in the settings' ``experiments_dir`` but its experiments point at another
    ``.../experiments/mlartifacts/``, the home was copied or moved: every recorded location
    (experiments, runs, registered model versions, logged models) under the old folder is
    rewritten to this one, so new runs do not write into the old checkout and old runs'
    artifacts are read from the copy. The "Default" experiment, which MLflow creates in
    ``./mlruns`` of the folder the first command ran in, keeps new artifacts in this home too
    (:func:`_default_experiment_home`). A store kept elsewhere (``WORKBENCH_MLFLOW_URI``) is
    shared on purpose and left alone. Returns how many locations changed."""
    settings = settings or get_settings()
    uri = settings.mlflow_uri
    if not uri.startswith("sqlite:///"):
        return 0
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.is_file() or path.resolve().parent != settings.experiments_dir.resolve():
        return 0
    stat = path.stat()
    return _relocate(str(path), settings.experiments_dir.resolve().as_uri(),
                     stat.st_mtime_ns, stat.st_size)


EMPTY_GRACE_S = 5.0
"""How long a 0-byte store may be a new one (SQLite creates the file, MLflow writes its tables
within a second); older and still empty, it is a damaged one."""


def _stays_empty(path: Path) -> bool:
    """Whether the store file ``path`` exists with 0 bytes and has for
    :data:`EMPTY_GRACE_S` (a younger one is waited for: another process may be creating it)."""
    import time

    deadline = time.time() + EMPTY_GRACE_S
    while True:
        try:
            stat = path.stat()
        except OSError:
            return False
        if stat.st_size:
            return False
        now = time.time()
        if now - stat.st_mtime >= EMPTY_GRACE_S or now >= deadline:
            return True
        time.sleep(0.25)


_ANSWERED: set[str] = set()
"""Tracking servers that answered once in this process (checked no more)."""


def check_server(uri: str, timeout_s: float = 5) -> None:
    """A :class:`TrackingError` naming ``uri`` when the tracking server there does not answer
    its ``/health`` (MLflow itself would retry for minutes, then print a page); nothing for
    other URIs, or a server that answered before in this process."""
    if not uri.startswith(("http://", "https://")) or uri in _ANSWERED:
        return
    import requests

    try:
        answer = requests.get(f"{uri.rstrip('/')}/health", timeout=timeout_s)
        problem = None if answer.ok else f"/health answered {answer.status_code}"
    except requests.RequestException as exc:
        problem = type(exc).__name__
    if problem:
        raise TrackingError(f"the MLflow tracking server {uri} does not answer ({problem}); "
                            f"start it (`make tracking-server`, docs/cluster.md) or unset "
                            f"WORKBENCH_MLFLOW_URI to use the local store")
    _ANSWERED.add(uri)


def configure(settings: Settings | None = None) -> str:
    """Point MLflow at the settings' tracking URI (creating a local store's folder). A local
    SQLite store is checked first: a damaged one is a :class:`TrackingError` naming the fix
    (models on disk keep working without it); one that was copied or moved with its home has
    its artifact locations rewritten (:func:`relocate_artifacts`). A tracking server that does
    not answer is a :class:`TrackingError` (:func:`check_server`)."""
    settings = settings or get_settings()
    uri = settings.mlflow_uri
    check_server(uri)
    if uri.startswith("sqlite:///"):
        settings.experiments_dir.mkdir(parents=True, exist_ok=True)
        path = Path(uri.removeprefix("sqlite:///"))
        if _stays_empty(path):
            raise TrackingError(
                f"the MLflow store {path} is empty (0 bytes): a damaged store (a copy or a "
                f"disk that was cut short), not a new one; move it away (mv {path} "
                f"{path}.damaged) and rerun `make pipeline` to record the runs again in a new "
                f"store; the models in models/ keep working without it")
        if path.is_file() and path.stat().st_size:
            stat = path.stat()
            problem = _store_problem(str(path), stat.st_mtime_ns, stat.st_size)
            if problem:
                raise TrackingError(
                    f"the MLflow store {path} is damaged ({problem}); move it away (mv {path} "
                    f"{path}.damaged) and rerun `make pipeline` to record the runs again; the "
                    f"models in models/ keep working without it")
            relocate_artifacts(settings)
    # "Creating initial MLflow database tables..." / "Updating database tables": routine
    # set-up of a new store, not something a person needs on the terminal
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(uri)
    return uri


EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
"""The experiment's kind for MLflow 3's UI: model training, not GenAI. MLflow 3.17's UI
decides by the browser's GenAI / Model training switch instead (a link says
``workflowType=machine_learning``: :mod:`workbench.experiments.mlflow_ui`); the tag is for
the versions that read it."""

SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
METRIC_DIGITS = 6
"""Significant digits of the summary metrics logged (:func:`log_metrics`)."""


def source_tags(notebook: str | os.PathLike[str]) -> dict[str, str]:
    """The ``mlflow.source.*`` tags naming ``notebook`` as a run's source (the UI's "Source"
    column): its path relative to the checkout when inside it, else as given."""
    path = Path(notebook)
    try:
        shown = str(path.resolve().relative_to(CHECKOUT))
    except ValueError:
        shown = str(path)
    return {SOURCE_NAME: shown, SOURCE_TYPE: "NOTEBOOK"}


def notebook_source() -> dict[str, str]:
    """:func:`source_tags` of the notebook this process runs as a Jupyter kernel (Jupyter
    names it in ``JPY_SESSION_NAME``); empty elsewhere (MLflow's own guess then stands, which
    in a kernel is ``ipykernel_launcher.py``; a sweep names its notebook in the run tags)."""
    name = os.environ.get("JPY_SESSION_NAME", "")
    return source_tags(name) if name.endswith(".ipynb") else {}


def model_run_name(dataset: str, model: str, seed: int, objective: str = "implicit",
                   trial: bool = False) -> str:
    """The MLflow run name of a trained model, short enough for the UI's table:
    ``anime/ease seed 42`` (``... explicit`` for a rating model, ``... trial`` for a tuning
    trial)."""
    return (f"{dataset}/{model} seed {seed}" + ("" if objective == "implicit" else
                                                f" {objective}") + (" trial" if trial else ""))


def round_metric(value: float) -> float:
    """``value`` to :data:`METRIC_DIGITS` significant digits, never rounding digits before
    the decimal point away (the UI shows what is stored: 0.174787, not 0.174787145934416)."""
    import math

    if not math.isfinite(value) or value == 0:
        return value
    return round(value, max(0, METRIC_DIGITS - 1 - math.floor(math.log10(abs(value)))))


def set_experiment(name: str, settings: Settings | None = None) -> str:
    """Make ``name`` the active experiment, creating it if needed; returns its id.

    With the local SQLite store, a new experiment keeps its artifacts in
    ``<experiments_dir>/mlartifacts/<name>`` (MLflow's default, ``./mlruns``, would follow the
    current directory). A tracking server decides artifact locations itself.
    """
    settings = settings or get_settings()
    configure(settings)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        location = None
        if settings.mlflow_uri.startswith("sqlite:"):
            location = (settings.artifacts_dir / name).as_uri()
        try:
            experiment_id = mlflow.create_experiment(name, artifact_location=location,
                                                     tags={EXPERIMENT_KIND: MODEL_TRAINING})
        except mlflow.exceptions.MlflowException:  # created meanwhile by another process
            experiment_id = mlflow.get_experiment_by_name(name).experiment_id
    if existing is not None and existing.tags.get(EXPERIMENT_KIND) is None:
        mlflow.MlflowClient().set_experiment_tag(experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


@contextmanager
def start_run(
    experiment: str,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    started_at: float | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Open an MLflow run in ``experiment`` with ``params`` (nested dicts flattened).

    The settings' ``run_tags`` are added (a sweep's parent run id, so the run nests under it
    in the MLflow UI, the variant's name and parameter hash, its notebook as the source); in
    a notebook kernel run by hand, the notebook is the source (:func:`notebook_source`).
    ``started_at`` (a
    ``time.time()`` taken when the work began) back-dates the run's start, so a notebook that
    records its results at the end still shows how long the work took.
    """
    settings = settings or get_settings()
    experiment_id = set_experiment(experiment, settings)
    all_tags = {**notebook_source(), **settings.run_tags, **dict(tags or {})}
    run_id = None
    if started_at is not None:
        created = mlflow.MlflowClient().create_run(
            experiment_id, start_time=int(started_at * 1000), tags=all_tags, run_name=run_name)
        run_id = created.info.run_id
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name,
                          tags=None if run_id else all_tags) as run:
        if params:
            mlflow.log_params(_flat(params))
        yield run


def progress_reporter(settings: Settings | None = None) -> Callable[[str], None]:
    """``report(line)``: writes ``line`` (replacing the last one, atomically) to the settings'
    ``progress_file``, where a sweep runner reads it while the job runs; a no-op when no
    progress file is set (a notebook run by hand, the CLI)."""
    from workbench.storage import write_text

    path = (settings or get_settings()).progress_file
    if path is None:
        return lambda line: None

    def report(line: str) -> None:
        # the status line is a courtesy: never fail a training for it
        with contextlib.suppress(OSError):
            write_text(path, line.strip().replace("\n", " ")[:200])

    return report


def log_metrics(metrics: Mapping[str, float | int | bool], step: int | None = None) -> None:
    """Log numeric metrics (booleans as 0/1) to the active run, rounded
    (:func:`round_metric`)."""
    mlflow.log_metrics({k: round_metric(float(v)) for k, v in metrics.items()}, step=step)


def log_figure(figure: Any, name: str, run_id: str | None = None) -> None:
    """Save a Matplotlib figure as a PNG artifact of the active run (of run ``run_id``, a
    finished one too, when given)."""
    name = f"{name}.png" if not name.endswith(".png") else name
    if run_id is None:
        mlflow.log_figure(figure, name)
    else:
        mlflow.MlflowClient().log_figure(run_id, figure, name)


def log_model_folder(folder: str | os.PathLike[str], artifact_path: str = "model") -> str:
    """Log a saved model folder as artifacts of the active run; returns its artifact URI."""
    mlflow.log_artifacts(str(folder), artifact_path)
    return mlflow.get_artifact_uri(artifact_path)


def alias_version(name: str, alias: str = "champion", settings: Settings | None = None):
    """The version of registered model ``name`` that holds ``alias`` (an MLflow
    ``ModelVersion``), or None when the model or the alias does not exist."""
    configure(settings)
    try:
        return mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None


def register_if_better(
    name: str, source: str, run_id: str, metric: str, value: float,
    alias: str = "champion", extra_tags: Mapping[str, str] | None = None,
    comparable: Mapping[str, str] | None = None, settings: Settings | None = None,
) -> tuple[bool, str]:
    """Register ``source`` as a new version of model ``name``; move ``alias`` to it when
    ``value`` of ``metric`` beats the current holder's (higher is better).

    The metric (with ``extra_tags`` and ``comparable``) is stored as version tags, so the
    comparison needs no run lookups. A holder without the metric tag (chosen by another
    rule), or whose ``comparable`` tags differ (judged on other data), is beaten by any value.
    Returns whether the alias moved, and the new version.
    """
    configure(settings)
    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name)
    same = dict(comparable or {})
    version = client.create_model_version(name, source, run_id=run_id, tags={
        metric: str(value), **dict(extra_tags or {}), **same})
    current = alias_version(name, alias, settings)
    best = float("-inf") if current is None else float(current.tags.get(metric, "-inf"))
    if current is not None and any(current.tags.get(k, "") != v for k, v in same.items()):
        best = float("-inf")
    if value > best:
        client.set_registered_model_alias(name, alias, version.version)
        return True, str(version.version)
    return False, str(version.version)


TAG_RUNNER = "workbench.runner"
"""``host:pid`` of the process that opened a run (a sweep's parent, a hybrid registration):
how a later process tells a run whose process is gone from one still working."""
ABANDONED_AFTER_S = 3600
"""A RUNNING run without :data:`TAG_RUNNER` (logged before the tag existed) counts as
abandoned once it is this old, in the experiments :func:`mark_abandoned_runs` cleans."""


def runner_id() -> str:
    """``host:pid`` of this process (the value of :data:`TAG_RUNNER`)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def runner_alive(runner: str) -> bool:
    """Whether the process ``host:pid`` still runs (another host's: assumed so)."""
    import socket

    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def mark_abandoned_runs(experiment: str, settings: Settings | None = None) -> int:
    """Mark KILLED the RUNNING runs of ``experiment`` whose process is gone (a kill -9, a
    closed terminal, by their :data:`TAG_RUNNER`), and untagged ones older than
    :data:`ABANDONED_AFTER_S`; runs of a live process are left alone. For experiments whose
    runs are opened one process at a time and last minutes (``hybrid-serving``), not sweep
    experiments (their children carry no runner: :mod:`workbench.experiments.bookkeeping`).
    Returns how many."""
    import time

    configure(settings)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        return 0
    client = mlflow.MlflowClient()
    running = client.search_runs([found.experiment_id],
                                 filter_string="attributes.status = 'RUNNING'",
                                 max_results=5000)
    old = (time.time() - ABANDONED_AFTER_S) * 1000
    killed = 0
    for run in running:
        runner = run.data.tags.get(TAG_RUNNER)
        gone = (not runner_alive(runner) if runner is not None
                else (run.info.start_time or 0) < old)
        if gone:
            client.set_terminated(run.info.run_id, "KILLED")
            killed += 1
    return killed
