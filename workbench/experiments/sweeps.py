"""Sweeps: a YAML file names notebooks, fixed parameters and variants; each variant is one
papermill run, tracked as a child MLflow run under one parent run per sweep invocation.

A sweep file (``experiments/<name>.yaml``)::

    experiment: movies-default          # MLflow experiment of the parent and child runs
    notebook: 03_train_collaborative    # default notebook (under notebooks/, .ipynb optional)
    parameters: {dataset: movies}       # fixed parameters of every variant
    variants:                           # a list: name + parameter overrides (+ notebook)
      - name: text-only
        notebook: 02_content_index
        parameters: {fusion: false, save_index: false}
      - name: cf                        # a variant with a grid: one per point,
        parameters: {save_model: false} #   named "cf.model=mf" (keys joined by ",")
        grid: {model: [mf, gmf]}
    grid:                               # and/or a top-level grid: every combination is a
      model: [popularity, neumf]        #   variant, named "model=neumf"
    compare: [test_full_ndcg_at_10]     # metrics `workbench experiments compare` shows

Variants are the list's entries (a grid on an entry expands it) plus the top-level grid's
points; names must be unique. Parameters merge in this order: ``parameters``, then the
variant's; the runner sets ``mlflow_experiment`` itself. A dotted key sets one entry of a dict
parameter: ``params.l2: 300`` (also in grids and search spaces). A variant may carry
``stage: N``: stages run in order (variants of stage 1 start once every variant of stage 0 has
finished), each stage in parallel. A variant with a ``search:`` block is a tuning study
(:mod:`workbench.experiments.search`).

Everything is validated before anything runs: unknown keys, missing notebooks,
parameters a notebook does not declare (papermill would ignore them silently), values
whose type does not match the notebook's default, and, for notebooks backed by a task
(:data:`TASK_CHECKS`), the task's own configuration built from the parameters (so a bad
hyperparameter, or a search space naming an unknown one, is refused by name).

Decisions:

- **Resume**: a variant is skipped when its experiment already holds a FINISHED run with the
  same parameter hash (notebook name + parameters + the task's resolved configuration, so a
  changed ``experiments/tuned/`` file reruns what it changes); ``force`` runs it anyway. A
  study resumes its finished trials.
- **Failure**: a failing variant's run is marked FAILED with the failing cell's error in the
  ``workbench.error`` tag and the executed notebook attached; the other variants still run;
  the command exits non-zero.
- **Killed sweeps**: the parent run records which process runs it (``workbench.runner``,
  ``host:pid``); a sweep starting in an experiment marks KILLED every RUNNING run there whose
  sweep process is gone (kill -9, a closed terminal), so nothing stays RUNNING forever; runs of
  a sweep still running are left alone. Ctrl-C stops the workers and their kernels (workers
  ignore SIGINT; the parent kills them), marks this invocation's runs KILLED and ends with one
  line and exit code 130; a rerun resumes.
- **Parallel** (``jobs`` > 1): variants run in separate processes (spawned, so none inherits
  TensorFlow state). The tracking store and the parent run are created before any process
  starts; MLflow's SQLite store waits on locks (``busy_timeout``), and the runner's own
  bookkeeping (artifacts, tags, status) happens in the parent process only, one at a time.
- **Kernels**: papermill starts one kernel per variant and shuts it down when the notebook
  ends, failed or not; no kernel outlives its variant.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench import WorkbenchError
from workbench.errors import describe_errors
from workbench.experiments import search as tuning
from workbench.experiments.notebooks import NOTEBOOKS_DIR, declared_parameters, execute_notebook
from workbench.experiments.search import TAG_STUDY, TAG_TRIAL, SearchSpec
from workbench.settings import Settings, get_settings

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.=,+-]*$"
TAG_SWEEP = "workbench.sweep"
TAG_VARIANT = "workbench.variant"
TAG_HASH = "workbench.params_hash"
TAG_UID = "workbench.variant_uid"
TAG_ERROR = "workbench.error"
TAG_PARENT = "mlflow.parentRunId"
TAG_SWEEP_PARENT = "workbench.sweep_parent"
TAG_RUNNER = "workbench.runner"
"""``host:pid`` of the process running a sweep's parent run (to tell orphans)."""

TASK_CHECKS = {
    "02_content_index.ipynb": "workbench.tasks.content:check_parameters",
    "03_train_collaborative.ipynb": "workbench.tasks.collaborative:check_parameters",
    "04_hybrid_evaluation.ipynb": "workbench.tasks.hybrid:check_parameters",
}
"""Notebooks backed by a task: ``module:function(parameters) -> resolved config dict`` that
raises :class:`workbench.WorkbenchError` naming a bad parameter."""


class SweepError(WorkbenchError):
    """A sweep file is invalid, or a sweep could not run; the message names the key."""


class VariantSpec(BaseModel):
    """One entry of a sweep's ``variants`` list (with a ``grid``: one variant per point,
    named ``<name>.<key>=<value>``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    notebook: str | None = None
    parameters: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    stage: int = Field(0, ge=0)
    search: SearchSpec | None = None


class SweepSpec(BaseModel):
    """A validated sweep file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    """Defaults to the file name without ``.yaml``; names ``experiments/runs/<name>/``."""
    experiment: str = Field(min_length=1)
    description: str = ""
    notebook: str | None = None
    parameters: dict[str, Any] = {}
    variants: list[VariantSpec] = []
    grid: dict[str, list[Any]] = {}
    compare: list[str] = []
    search: SearchSpec | None = None
    """Defaults of every variant's ``search`` (a variant without a space is a plain run)."""

    @model_validator(mode="after")
    def _has_variants(self) -> SweepSpec:
        if not self.variants and not self.grid:
            raise ValueError("no variants: give a `variants` list and/or a `grid`")
        grids = [self.grid, *(v.grid for v in self.variants)]
        empty = [key for grid in grids for key, values in grid.items() if not values]
        if empty:
            raise ValueError(f"grid key(s) {empty} have no values")
        return self


@dataclass(frozen=True)
class Variant:
    """A runnable variant: its notebook and complete parameters (and, for a study, its
    search)."""

    name: str
    notebook: Path
    parameters: dict[str, Any]
    stage: int = 0
    search: SearchSpec | None = None
    resolved: dict[str, Any] | None = None
    """The task's configuration built from ``parameters`` (notebooks in TASK_CHECKS)."""

    @property
    def params_hash(self) -> str:
        """Identity of the work: the notebook's name, the parameters, the task's resolved
        configuration and, for a study, its search settings and space."""
        identity = {"notebook": self.notebook.name, "parameters": self.parameters}
        if self.resolved is not None:
            identity["resolved"] = self.resolved
        if self.search is not None:
            identity["search"] = self.search.identity()
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Outcome:
    """What happened to one variant."""

    variant: str
    status: str  # FINISHED, FAILED, SKIPPED, PLANNED
    seconds: float = 0.0
    error: str = ""
    run_id: str = ""
    output: str = ""
    value: float | None = None
    """A study's best objective value."""


@dataclass
class SweepReport:
    """A sweep invocation: per-variant outcomes and the parent run."""

    sweep: str
    outcomes: list[Outcome] = field(default_factory=list)
    parent_run_id: str = ""
    orphans_killed: int = 0
    """RUNNING runs of dead earlier invocations marked KILLED at the start."""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "FAILED"]


def _resolve_notebook(name: str, base: Path) -> Path:
    """The notebook a sweep names: found in the project's ``notebooks/`` or beside the sweep
    file, and only there (a name climbing out with ``..`` or an absolute path elsewhere is
    refused: a sweep file must not run any notebook on disk)."""
    roots = [NOTEBOOKS_DIR.resolve(), base.resolve()]
    candidates = [root / name for root in roots]
    candidates += [p.with_suffix(".ipynb") for p in candidates if p.suffix != ".ipynb"]
    for path in candidates:
        resolved = path.resolve()
        if resolved.is_file():
            if not any(resolved.is_relative_to(root) for root in roots):
                raise SweepError(f"notebook {name!r} is outside {NOTEBOOKS_DIR} and the sweep "
                                 f"file's folder {base}; sweeps run only notebooks from there")
            return resolved
    raise SweepError(f"notebook {name!r} not found (looked in {NOTEBOOKS_DIR} and {base})")


def load_sweep(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and validate a sweep file (structure only; :func:`expand` checks notebooks)."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"sweep file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SweepError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: a sweep file is a mapping of keys (experiment, notebook, "
                         f"parameters, variants, grid), got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    try:
        return SweepSpec(**raw)
    except ValidationError as exc:
        raise SweepError(f"{path}: invalid sweep file: {describe_errors(exc)}") from None


def _check_value(where: str, name: str, value: Any, default: Any) -> None:
    """A value whose type contradicts the notebook's default is an error (YAML ``"3"`` for an
    int, ``yes`` for a string...)."""
    if default is None or value is None:
        return
    numbers = (int, float)
    ok = (isinstance(value, bool) if isinstance(default, bool) else
          isinstance(value, numbers) and not isinstance(value, bool)
          if isinstance(default, numbers) else
          isinstance(value, list | tuple) if isinstance(default, list | tuple) else
          isinstance(value, dict) if isinstance(default, dict) else
          isinstance(value, str) if isinstance(default, str) else True)
    if not ok:
        raise SweepError(f"{where}: parameter {name!r} = {value!r} should be a "
                         f"{type(default).__name__} like the notebook's default {default!r}")


def _parse_default(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _grid_points(grid: dict[str, list[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(label, parameters) for every combination of ``grid``; none for an empty grid."""
    keys = list(grid)
    if not keys:
        return []
    return [(",".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True)),
             dict(zip(keys, combo, strict=True)))
            for combo in itertools.product(*(grid[k] for k in keys))]


def merge_parameters(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` over ``base``; a dotted key (``params.l2``) sets one entry of a dict
    parameter, merged with the dicts below it."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            inner = out.get(head)
            inner = dict(inner) if isinstance(inner, dict) else {}
            out[head] = merge_parameters(inner, {rest: value})
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_parameters(out[key], value)
        else:
            out[key] = value
    return out


def _task_check(notebook: Path):
    """The task check of ``notebook`` (see :data:`TASK_CHECKS`), or None."""
    import importlib

    target = TASK_CHECKS.get(notebook.name)
    if target is None:
        return None
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def expand(spec: SweepSpec, base: Path | None = None) -> list[Variant]:
    """The sweep's variants with complete parameters, validated against their notebooks."""
    base = base or Path.cwd()
    entries: list[tuple[str, str | None, dict[str, Any], int, SearchSpec | None]] = []
    for v in spec.variants:
        points = _grid_points(v.grid)
        search = v.search.over(spec.search) if v.search is not None else None
        if not points:
            entries.append((v.name, v.notebook, dict(v.parameters), v.stage, search))
        for label, values in points:
            entries.append((f"{v.name}.{label}", v.notebook, {**v.parameters, **values},
                            v.stage, search))
    entries += [(label, None, values, 0, None) for label, values in _grid_points(spec.grid)]
    seen: set[str] = set()
    variants = []
    for name, notebook_name, overrides, stage, search in entries:
        where = f"{spec.name}: variant {name!r}"
        if name in seen:
            raise SweepError(f"{where}: duplicate variant name")
        seen.add(name)
        notebook_name = notebook_name or spec.notebook
        if notebook_name is None:
            raise SweepError(f"{where}: no notebook (set `notebook` at the top or on the "
                             f"variant)")
        notebook = _resolve_notebook(notebook_name, base)
        declared = {k: _parse_default(str(v)) for k, v in declared_parameters(notebook).items()}
        parameters = merge_parameters(spec.parameters, overrides)
        if "mlflow_experiment" in parameters:
            raise SweepError(f"{where}: do not set mlflow_experiment; the sweep's "
                             f"`experiment` ({spec.experiment!r}) is used")
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise SweepError(f"{where}: {notebook.name} does not declare parameter(s) "
                             f"{unknown}; it declares {sorted(declared)}")
        if "mlflow_experiment" not in declared:
            raise SweepError(f"{where}: {notebook.name} has no mlflow_experiment parameter, "
                             f"so its run cannot join the sweep")
        for key, value in parameters.items():
            _check_value(where, key, value, declared[key])
        if search is not None:
            _check_search(where, search, declared)
            if search.space and "trial" in declared and parameters.get("trial") is not True:
                raise SweepError(f"{where}: a search variant must set `trial: true`: tuning "
                                 f"trials fit and validate only; they must not score the test "
                                 f"split, save or register models")
        parameters["mlflow_experiment"] = spec.experiment
        resolved = _check_task(where, notebook, parameters, search)
        variants.append(Variant(name, notebook, parameters, stage,
                                search if search and search.space else None, resolved))
    for v in variants:
        if v.search is not None and not v.search.trials:
            raise SweepError(f"{spec.name}: variant {v.name!r}: search has no `trials` count "
                             f"(set it on the variant or in the top-level search)")
    return variants


def _check_search(where: str, search: SearchSpec, declared: dict[str, Any]) -> None:
    """Every key of the space is a declared parameter (a dotted key: of a dict one)."""
    for key in search.space:
        head, _, rest = key.partition(".")
        if head not in declared:
            raise SweepError(f"{where}: search space key {key!r}: the notebook declares no "
                             f"parameter {head!r}; it declares {sorted(declared)}")
        if rest and not isinstance(declared[head], dict):
            raise SweepError(f"{where}: search space key {key!r}: {head!r} is not a dict "
                             f"parameter")


def _check_task(where: str, notebook: Path, parameters: dict[str, Any],
                search: SearchSpec | None) -> dict[str, Any] | None:
    """Build the task's config from ``parameters`` (and from each bound or choice of the
    search space): a bad value is refused before anything runs."""
    check = _task_check(notebook)
    if check is None:
        return None
    try:
        resolved = check(parameters)
    except WorkbenchError as exc:
        raise SweepError(f"{where}: {exc}") from None
    space = search.space if search else {}
    probes = [{key: value} for key, dist in space.items() for value in dist.probe_values()]
    if len(space) > 1:  # every dimension at once, at both ends
        probes += [{k: d.probe_values()[0] for k, d in space.items()},
                   {k: d.probe_values()[-1] for k, d in space.items()}]
    for probe in probes:
        try:
            check(merge_parameters(parameters, probe))
        except WorkbenchError as exc:
            shown = ", ".join(f"{k!r} = {v!r}" for k, v in probe.items())
            raise SweepError(f"{where}: search space {shown}: {exc}") from None
    return resolved


# -- running -------------------------------------------------------------------------------


def _grid_values(variant: str) -> str:
    """A variant's name by its grid values alone, for a narrow status line:
    ``keras.seed=1,dataset=movies,model=neumf`` -> ``1,movies,neumf``; a name without a
    grid stays as it is."""
    _, dot, grid = variant.partition(".")
    if not dot or "=" not in grid:
        return variant
    return ",".join(part.partition("=")[2] or part for part in grid.split(","))


class StatusLines:
    """The status lines of running variants (their ``WORKBENCH_PROGRESS_FILE``, written by
    the training task: "selection fit: epoch 3/20, val NDCG@10 0.0512") shown beside a
    progress bar, refreshed every ``interval`` seconds by a daemon thread."""

    def __init__(self, bar, interval: float = 1.0, width: int = 60) -> None:
        self.bar, self.interval, self.width = bar, interval, width
        self.files: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if not getattr(bar, "disable", True):
            self._thread = threading.Thread(target=self._loop, name="sweep-status",
                                            daemon=True)
            self._thread.start()

    def add(self, name: str, path: Path) -> None:
        """Watch ``path`` for variant ``name`` (a stale file from an earlier run is removed)."""
        path.unlink(missing_ok=True)
        with self._lock:
            self.files[name] = path

    def done(self, name: str) -> None:
        """Stop showing ``name`` and remove its file."""
        with self._lock:
            path = self.files.pop(name, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def text(self) -> str:
        """The current line: ``variant: status; ...`` for the variants that wrote one."""
        with self._lock:
            files = list(self.files.items())
        parts = []
        for name, path in files:
            try:
                status = path.read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if status:
                parts.append((name.rsplit("/", 1)[-1], status))
        text = "; ".join(f"{name}: {status}" for name, status in parts)
        if len(text) > self.width:  # the status matters more than the grid keys' names
            text = "; ".join(f"{_grid_values(name)}: {status}" for name, status in parts)
        return text if len(text) <= self.width else text[:self.width - 3] + "..."

    def _loop(self) -> None:
        shown = ""
        while not self._stop.wait(self.interval):
            text = self.text()
            if text != shown:
                self.bar.set_postfix_str(text, refresh=True)
                shown = text

    def close(self) -> None:
        """Stop the thread and remove the remaining files."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for name in list(self.files):
            self.done(name)


KERNEL_LOG = "kernels.log"
"""The variants' kernels write their start-up noise here (``experiments/runs/kernels.log``),
not to the terminal."""


def _run_one(notebook: str, output: str, parameters: dict[str, Any], tags: dict[str, str],
             env: dict[str, str]) -> tuple[str, float, str]:
    """Execute one variant (in this process or a spawned one): status, seconds, error."""
    from workbench.experiments.notebooks import NotebookError

    saved = {k: os.environ.get(k) for k in [*env, "WORKBENCH_RUN_TAGS"]}
    os.environ.update(env)
    os.environ["WORKBENCH_RUN_TAGS"] = json.dumps(tags)
    started = time.perf_counter()
    log = Path(env.get("WORKBENCH_EXPERIMENTS_DIR", ".")) / "runs" / KERNEL_LOG
    try:
        execute_notebook(notebook, output, parameters, kernel_log=log)
        return "FINISHED", time.perf_counter() - started, ""
    except NotebookError as exc:
        return "FAILED", time.perf_counter() - started, str(exc)
    except Exception as exc:  # a kernel crash must not stop the sweep
        return "FAILED", time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _finished_hashes(client, experiment_id: str) -> dict[str, str]:
    """params hash -> run id of the FINISHED runs of the experiment."""
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                              max_results=5000)
    return {r.data.tags[TAG_HASH]: r.info.run_id for r in runs if TAG_HASH in r.data.tags}


DEFAULT_SWEEP = """\
# The default sweep of the dataset {name}, written by `workbench pipeline` because there was
# none (edit it freely: it is yours, and the pipeline runs it as it is from now on).
# Stage 0: the content index text-only (it saves nothing over the pipeline's index) and the
# fast models of the zoo with their declared defaults; the champion alias goes to the best
# validation NDCG@10. Stage 1: notebook 04 chooses the hybrid's alpha on validation.
# Add `neumf` (or any name from `workbench collaborative models`) to the grid for more.
experiment: {name}-default
description: the generated default sweep of {name}
parameters:
  dataset: {name}
compare: [genre_precision_at_10, val_full_ndcg_at_10, test_full_ndcg_at_10, best_alpha, \
test_ndcg_at_10]
variants:
  - name: content-text-only
    notebook: 02_content_index
    parameters: {{fusion: false, compare_text_only: false, save_index: false}}
  - name: zoo
    notebook: 03_train_collaborative
    grid:
      model: [popularity, itemknn, ease, ials, blend]   # blend: EASE + item-kNN + content kNN
  - name: hybrid-alpha
    notebook: 04_hybrid_evaluation
    stage: 1
"""
"""What `workbench pipeline` writes for a dataset without a default sweep."""


def write_default_sweep(dataset: str, settings: Settings | None = None) -> Path:
    """Write ``<experiments_dir>/<dataset>_default.yaml`` (:data:`DEFAULT_SWEEP`) and return
    its path; an existing file is never replaced."""
    from workbench.storage import write_text

    settings = settings or get_settings()
    path = settings.experiments_dir / f"{dataset}_default.yaml"
    if not path.exists():
        write_text(path, DEFAULT_SWEEP.format(name=dataset))
    return path


def run_sweep(spec: SweepSpec, settings: Settings | None = None, jobs: int = 1,
              only: Iterable[str] | None = None, dry_run: bool = False, force: bool = False,
              progress: bool = True, base: Path | None = None) -> SweepReport:
    """Run (or, with ``dry_run``, plan) the sweep's variants; see the module docstring.

    Stages run in order. A later stage's variants are expanded again once the earlier ones
    have finished, so their identity reflects what those produced (notebook 04's includes the
    champion that stage 0 chose): a changed champion reruns the hybrid variant."""
    import mlflow

    from workbench import tracking

    settings = settings or get_settings()
    variants = _selected(spec, expand(spec, base), only)
    if jobs < 1:
        raise SweepError(f"jobs must be >= 1, got {jobs}")
    experiment_id = tracking.set_experiment(spec.experiment, settings)
    client = mlflow.MlflowClient()
    report = SweepReport(spec.name)
    runner = None
    try:
        for n, stage in enumerate(sorted({v.stage for v in variants})):
            if n and not dry_run:
                variants = _selected(spec, expand(spec, base), only)
            done = {} if force else _finished_hashes(client, experiment_id)
            todo = []
            for v in (v for v in variants if v.stage == stage):
                if v.search is not None:
                    todo.append(v)  # a study decides per trial what is left to run
                elif v.params_hash in done:
                    report.outcomes.append(Outcome(v.name, "SKIPPED",
                                                   run_id=done[v.params_hash]))
                else:
                    todo.append(v)
            if dry_run:
                for v in todo:
                    left = _trials_left(spec, v, settings, force) if v.search else None
                    report.outcomes.append(Outcome(
                        v.name, "SKIPPED" if left == 0 else "PLANNED",
                        error="" if left is None else
                        f"study: {left} of {v.search.trials} trials to run"))
                continue
            if not todo:
                continue
            runner = runner or _Runner(spec, settings, client, experiment_id, jobs, progress,
                                       report)
            runner.run_plain([v for v in todo if v.search is None])
            for v in todo:
                if v.search is not None:
                    runner.run_study(v, force)
    except KeyboardInterrupt:
        killed = runner.interrupted() if runner is not None else 0
        runner = None  # not finished: interrupted
        raise SweepInterrupted(f"sweep {spec.name} interrupted: {killed} run(s) marked "
                               f"KILLED; run it again to resume (finished variants are "
                               f"skipped)") from None
    finally:
        if runner is not None:
            runner.finish()
    return report


def _selected(spec: SweepSpec, variants: list[Variant], only: Iterable[str] | None
              ) -> list[Variant]:
    """The variants named in ``only``: a full name (``zoo.model=ease``) or a variant group
    of the sweep file (``zoo``: each of its grid points)."""
    if not only:
        return variants
    wanted = list(only)

    def chosen(variant: Variant, name: str) -> bool:
        return variant.name == name or variant.name.startswith(name + ".")

    unknown = sorted(w for w in set(wanted) if not any(chosen(v, w) for v in variants))
    if unknown:
        raise SweepError(f"no variant(s) {unknown} in sweep {spec.name!r}; it has "
                         f"{[v.name for v in variants]}")
    return [v for v in variants if any(chosen(v, w) for w in wanted)]


def _result(future) -> tuple[str, float, str]:
    """A variant's (status, seconds, error), also when its worker process died."""
    try:
        return future.result()
    except Exception as exc:  # BrokenProcessPool (killed for memory, ...): record, go on
        return "FAILED", 0.0, f"the worker process running it died ({type(exc).__name__}: " \
            f"{exc})"


def _runner_id() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(runner: str) -> bool:
    """Whether the sweep process ``host:pid`` still runs (another host's: assumed so)."""
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


def mark_orphaned_runs(client, experiment_id: str) -> int:
    """Mark KILLED the RUNNING sweep runs of the experiment whose sweep process is gone (a
    kill -9, a closed terminal): parents by their runner tag, children by their parent's.
    Runs of a sweep still running (this host or another) are left alone. Returns how many."""
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'",
                                 max_results=5000)
    runner_of: dict[str, str | None] = {}

    def runner(run_id: str) -> str | None:
        if run_id not in runner_of:
            try:
                runner_of[run_id] = client.get_run(run_id).data.tags.get(TAG_RUNNER)
            except Exception:  # a parent deleted meanwhile: unknown, leave the child
                runner_of[run_id] = None
        return runner_of[run_id]

    killed = 0
    for run in running:
        tags = run.data.tags
        owner = tags.get(TAG_RUNNER) if TAG_SWEEP_PARENT in tags else (
            runner(tags[TAG_PARENT]) if TAG_PARENT in tags else None)
        if owner is not None and not _alive(owner):
            client.set_terminated(run.info.run_id, "KILLED")
            killed += 1
    return killed


class SweepInterrupted(SweepError):
    """Ctrl-C: the workers and their kernels are stopped, the runs marked KILLED."""

    exit_code = 130


def _ignore_sigint() -> None:
    """In a worker: Ctrl-C is the parent's to handle (no traceback from every worker).

    The worker starts with SIGINT blocked (see `_submit`), so a Ctrl-C that lands while it
    is still importing stays pending; ignoring it here discards it, then it is unblocked."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _submit(pool, *args):
    """``pool.submit(_run_one, *args)``, safe from a Ctrl-C in the middle: a submit may spawn
    a worker, and a KeyboardInterrupt raised between starting it and sending it its start-up
    data leaves it to die of an EOFError traceback. So SIGINT is blocked in this thread (the
    worker inherits the mask and cannot die of it before `_ignore_sigint` runs in it) and,
    since another thread may take the signal, Python's handler only notes it meanwhile; a
    Ctrl-C pressed during the submit is raised once it is done."""
    import signal

    pressed: list[int] = []
    handler = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(_run_one, *args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, handler)
        if pressed:
            raise KeyboardInterrupt


def _stop_pool(pool) -> None:
    """Stop a process pool now: its workers and their notebook kernels (own sessions, so a
    Ctrl-C does not reach them) are killed, queued variants cancelled."""
    import psutil

    workers = list(getattr(pool, "_processes", {}).values())
    for worker in workers:
        try:
            family = psutil.Process(worker.pid).children(recursive=True)
        except psutil.Error:
            family = []
        for process in [*family, psutil.Process(worker.pid)] if worker.is_alive() else family:
            with contextlib.suppress(psutil.Error):
                process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


class _Runner:
    """One sweep invocation: the parent run, the process pool, the bookkeeping."""

    def __init__(self, spec: SweepSpec, settings: Settings, client, experiment_id: str,
                 jobs: int, progress: bool, report: SweepReport) -> None:
        self.spec, self.settings, self.client = spec, settings, client
        self.experiment_id, self.jobs, self.progress, self.report = (
            experiment_id, jobs, progress, report)
        self.out_dir = settings.experiments_dir / "runs" / spec.name
        self.env = settings.to_env()
        report.orphans_killed = mark_orphaned_runs(client, experiment_id)
        # one parent per invocation, named by when it ran, so reruns are told apart in the UI
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        parent = client.create_run(experiment_id, run_name=f"sweep {spec.name} {stamp}",
                                   tags={TAG_SWEEP: spec.name, TAG_SWEEP_PARENT: "true",
                                         TAG_RUNNER: _runner_id()})
        self.parent_id = parent.info.run_id
        self.status: StatusLines | None = None
        report.parent_run_id = self.parent_id
        self.ran = 0

    def _job(self, name: str, variant: Variant, parameters: dict[str, Any],
             extra_tags: dict[str, str] | None = None) -> tuple[tuple, str]:
        uid = uuid.uuid4().hex
        tags = {TAG_PARENT: self.parent_id, TAG_SWEEP: self.spec.name, TAG_VARIANT: name,
                TAG_HASH: variant.params_hash, TAG_UID: uid, **(extra_tags or {})}
        stem = name.replace("/", ".")
        output = str(self.out_dir / f"{stem}.ipynb")
        progress = self.out_dir / f"{stem}.progress"
        if self.status is not None:
            self.status.add(name, progress)
        env = {**self.env, "WORKBENCH_PROGRESS_FILE": str(progress)}
        return (str(variant.notebook), output, parameters, tags, env), uid

    def _pool(self):
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn"),
                                   initializer=_ignore_sigint)

    def interrupted(self) -> int:
        """Ctrl-C: mark this invocation's RUNNING runs and its parent KILLED; how many."""
        running = self.client.search_runs(
            [self.experiment_id], filter_string="attributes.status = 'RUNNING'",
            max_results=5000)
        killed = 0
        for run in running:
            if run.data.tags.get(TAG_PARENT) == self.parent_id:
                self.client.set_terminated(run.info.run_id, "KILLED")
                killed += 1
        self.client.set_terminated(self.parent_id, "KILLED")
        return killed + 1

    def run_plain(self, variants: list[Variant]) -> None:
        """Run plain variants, ``jobs`` at a time."""
        from tqdm.auto import tqdm

        if not variants:
            return
        self.ran += len(variants)
        self.client.log_param(self.parent_id, f"variants_stage_{variants[0].stage}",
                              json.dumps([v.name for v in variants])[:6000])
        bar = tqdm(total=len(variants), desc=f"sweep {self.spec.name}", unit="variant",
                   disable=not self.progress)
        self.status = StatusLines(bar)
        try:
            self._run_variants(variants, bar)
        finally:
            self.status.close()
            bar.close()

    def _run_variants(self, variants: list[Variant], bar) -> None:
        jobs = {v.name: self._job(v.name, v, v.parameters) for v in variants}
        by_name = {v.name: v for v in variants}
        if self.jobs == 1:
            for v in variants:
                args, uid = jobs[v.name]
                self._record(v, v.name, _run_one(*args), uid, args[1])
                bar.update()
            return
        pool = self._pool()
        try:
            futures = {_submit(pool, *jobs[v.name][0]): v.name for v in variants}
            for future in as_completed(futures):
                name = futures[future]
                args, uid = jobs[name]
                self._record(by_name[name], name, _result(future), uid, args[1])
                bar.update()
        except KeyboardInterrupt:
            _stop_pool(pool)
            raise
        pool.shutdown()

    def run_study(self, variant: Variant, force: bool) -> None:
        """Run the missing trials of ``variant``'s study, ``jobs`` at a time (ask/tell)."""
        name = tuning.study_name(self.spec.experiment, variant.name, variant.params_hash)
        with tuning.study_lock(name, self.settings.experiments_dir):
            self._run_study(variant, name, force)

    def _run_study(self, variant: Variant, name: str, force: bool) -> None:
        import optuna
        from tqdm.auto import tqdm

        search = variant.search
        study = tuning.open_study(name, search, self.settings.optuna_uri, fresh=force)
        left = search.trials - len(tuning.completed(study))
        if left <= 0:
            self._study_outcome(variant, study, "SKIPPED")
            return
        distributions = {key: dist.to_optuna() for key, dist in search.space.items()}
        bar = tqdm(total=left, desc=f"study {variant.name}", unit="trial",
                   disable=not self.progress)
        self.status = StatusLines(bar)
        pending: dict = {}
        asked = 0
        pool = self._pool() if self.jobs > 1 else None
        try:
            while asked < left or pending:
                while asked < left and len(pending) < self.jobs:
                    trial = study.ask(distributions)
                    asked += 1
                    trial_name = f"{variant.name}/trial-{trial.number:03d}"
                    parameters = merge_parameters(variant.parameters,
                                                  tuning.decode_params(search, trial.params))
                    args, uid = self._job(trial_name, variant, parameters, {
                        TAG_STUDY: name, TAG_TRIAL: str(trial.number)})
                    if pool is None:
                        pending[trial.number] = (trial_name, args, uid, _run_one(*args))
                    else:
                        pending[trial.number] = (trial_name, args, uid,
                                                 _submit(pool, *args))
                number = self._next_done(pending)
                trial_name, args, uid, result = pending.pop(number)
                result = result if isinstance(result, tuple) else _result(result)
                outcome = self._record(variant, trial_name, result, uid, args[1])
                value = self._objective(outcome, search.objective)
                if value is None:
                    study.tell(number, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(number, value)
                    outcome.value = value
                bar.update()
        except KeyboardInterrupt:
            if pool is not None:
                _stop_pool(pool)
                pool = None
            raise
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            self.status.close()
            bar.close()
        self.ran += asked
        self._study_outcome(variant, study, "FINISHED")

    @staticmethod
    def _next_done(pending: dict) -> int:
        for number, entry in pending.items():
            if isinstance(entry[3], tuple):
                return number
        futures = {entry[3]: number for number, entry in pending.items()}
        return futures[next(as_completed(futures))]

    def _objective(self, outcome: Outcome, metric: str) -> float | None:
        if outcome.status != "FINISHED":
            return None
        value = self.client.get_run(outcome.run_id).data.metrics.get(metric)
        if value is None:
            outcome.status = "FAILED"
            outcome.error = f"the run logged no metric {metric!r} (the study's objective)"
            self.client.set_tag(outcome.run_id, TAG_ERROR, outcome.error)
            return None
        return float(value)

    def _study_outcome(self, variant: Variant, study, status: str) -> None:
        info = tuning.summary(study)
        if "best_params" in info:
            info["best_params"] = tuning.decode_params(variant.search, info["best_params"])
        best = info.get("best_value")
        text = (f"study: {info['trials_complete']} trials, best {variant.search.objective} "
                f"{best:.4f} with {json.dumps(info['best_params'])}" if best is not None
                else "study: no finished trial")
        self.report.outcomes.append(Outcome(f"{variant.name} (study)", status, error="" if
                                            best is not None else text, value=best,
                                            output=text))
        if best is None:
            return
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", variant.name)  # MLflow's allowed characters
        self.client.log_metric(self.parent_id, f"{key}.best_value"[:250], best)
        for name, value in info["best_params"].items():
            self.client.log_param(self.parent_id, f"{key}.best.{name}"[:250], value)
        self.client.log_text(self.parent_id, tuning.dumps(info), f"studies/{key}.json")
        figure = tuning.study_figure(study, f"{self.spec.name}: {variant.name}")
        self.client.log_figure(self.parent_id, figure, f"studies/{key}.png")
        import matplotlib.pyplot as plt

        plt.close(figure)

    def _record(self, variant: Variant, name: str, result: tuple[str, float, str], uid: str,
                output: str) -> Outcome:
        """Attach the executed notebook to the run (creating a run when the notebook failed
        before opening one) and record the failure."""
        if self.status is not None:
            self.status.done(name)
        client, status, (_, seconds, error) = self.client, result[0], result
        runs = client.search_runs([self.experiment_id],
                                  filter_string=f"tags.`{TAG_UID}` = '{uid}'")
        if runs:
            run_id = runs[0].info.run_id
        else:
            run = client.create_run(self.experiment_id, run_name=f"{self.spec.name}/{name}",
                                    tags={TAG_PARENT: self.parent_id, TAG_SWEEP: self.spec.name,
                                          TAG_VARIANT: name, TAG_HASH: variant.params_hash,
                                          TAG_UID: uid})
            run_id = run.info.run_id
            for key, value in variant.parameters.items():
                client.log_param(run_id, key, value)
            if status == "FINISHED":  # a notebook that tracks nothing (e.g. track=False)
                client.set_terminated(run_id, "FINISHED")
        if Path(output).is_file():
            client.log_artifact(run_id, output, "notebook")
        if status == "FAILED":
            client.set_tag(run_id, TAG_ERROR, error[:4900])
            client.set_terminated(run_id, "FAILED")
        outcome = Outcome(name, status, seconds, error, run_id, output)
        self.report.outcomes.append(outcome)
        return outcome

    def finish(self) -> None:
        failed = len(self.report.failed)
        self.client.log_metric(self.parent_id, "variants_run", self.ran)
        self.client.log_metric(self.parent_id, "variants_failed", failed)
        self.client.set_terminated(self.parent_id, "FAILED" if failed else "FINISHED")


def _trials_left(spec: SweepSpec, variant: Variant, settings: Settings, force: bool) -> int:
    """Trials a study still has to run (its full count with ``force`` or when new)."""
    if force:
        return variant.search.trials
    try:
        study = tuning.load_study(tuning.study_name(spec.experiment, variant.name,
                                                    variant.params_hash), settings.optuna_uri)
    except WorkbenchError:
        return variant.search.trials
    return max(0, variant.search.trials - len(tuning.completed(study)))
