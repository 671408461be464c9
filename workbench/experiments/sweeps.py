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
    compare: [full_ndcg_at_10]          # metrics `workbench experiments compare` shows

Variants are the list's entries (a grid on an entry expands it) plus the top-level grid's
points; names must be unique. Parameters
merge in this order: ``parameters``, then the variant's; the runner sets ``mlflow_experiment``
itself. Everything is validated before anything runs: unknown keys, missing notebooks,
parameters a notebook does not declare (papermill would ignore them silently), and values
whose type does not match the notebook's default.

Decisions:

- **Resume**: a variant is skipped when its experiment already holds a FINISHED run with the
  same parameter hash (notebook name + parameters); ``force`` runs it anyway.
- **Failure**: a failing variant's run is marked FAILED with the failing cell's error in the
  ``workbench.error`` tag and the executed notebook attached; the other variants still run;
  the command exits non-zero.
- **Parallel** (``jobs`` > 1): variants run in separate processes (spawned, so none inherits
  TensorFlow state). The tracking store and the parent run are created before any process
  starts; MLflow's SQLite store waits on locks (``busy_timeout``), and the runner's own
  bookkeeping (artifacts, tags, status) happens in the parent process only, one at a time.
- **Kernels**: papermill starts one kernel per variant and shuts it down when the notebook
  ends, failed or not; no kernel outlives its variant.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
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
from workbench.experiments.notebooks import NOTEBOOKS_DIR, declared_parameters, execute_notebook
from workbench.settings import Settings, get_settings

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.=,+-]*$"
TAG_SWEEP = "workbench.sweep"
TAG_VARIANT = "workbench.variant"
TAG_HASH = "workbench.params_hash"
TAG_UID = "workbench.variant_uid"
TAG_ERROR = "workbench.error"
TAG_PARENT = "mlflow.parentRunId"
TAG_SWEEP_PARENT = "workbench.sweep_parent"


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
    """A runnable variant: its notebook and complete parameters."""

    name: str
    notebook: Path
    parameters: dict[str, Any]

    @property
    def params_hash(self) -> str:
        """Identity of the work: the notebook's name and the parameters."""
        text = json.dumps({"notebook": self.notebook.name, "parameters": self.parameters},
                          sort_keys=True, default=str)
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


@dataclass
class SweepReport:
    """A sweep invocation: per-variant outcomes and the parent run."""

    sweep: str
    outcomes: list[Outcome] = field(default_factory=list)
    parent_run_id: str = ""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "FAILED"]


def _resolve_notebook(name: str, base: Path) -> Path:
    candidates = [Path(name), NOTEBOOKS_DIR / name, base / name]
    candidates += [p.with_suffix(".ipynb") for p in candidates if p.suffix != ".ipynb"]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise SweepError(f"notebook {name!r} not found (looked in {NOTEBOOKS_DIR} and {base})")


def _format_validation(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{where}: {err['msg']}{shown}")
    return f"{path}: invalid sweep file: " + "; ".join(lines)


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
        raise SweepError(_format_validation(path, exc)) from None


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


def expand(spec: SweepSpec, base: Path | None = None) -> list[Variant]:
    """The sweep's variants with complete parameters, validated against their notebooks."""
    base = base or Path.cwd()
    entries: list[tuple[str, str | None, dict[str, Any]]] = []
    for v in spec.variants:
        points = _grid_points(v.grid)
        if not points:
            entries.append((v.name, v.notebook, dict(v.parameters)))
        for label, values in points:
            entries.append((f"{v.name}.{label}", v.notebook, {**v.parameters, **values}))
    entries += [(label, None, values) for label, values in _grid_points(spec.grid)]
    seen: set[str] = set()
    variants = []
    for name, notebook_name, overrides in entries:
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
        parameters = {**spec.parameters, **overrides}
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
        parameters["mlflow_experiment"] = spec.experiment
        variants.append(Variant(name, notebook, parameters))
    return variants


# -- running -------------------------------------------------------------------------------


def _run_one(notebook: str, output: str, parameters: dict[str, Any], tags: dict[str, str],
             env: dict[str, str]) -> tuple[str, float, str]:
    """Execute one variant (in this process or a spawned one): status, seconds, error."""
    from workbench.experiments.notebooks import NotebookError

    saved = {k: os.environ.get(k) for k in [*env, "WORKBENCH_RUN_TAGS"]}
    os.environ.update(env)
    os.environ["WORKBENCH_RUN_TAGS"] = json.dumps(tags)
    started = time.perf_counter()
    try:
        execute_notebook(notebook, output, parameters)
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


def _settings_env(settings: Settings) -> dict[str, str]:
    """The settings a variant's kernel needs, as environment variables."""
    return {"WORKBENCH_HOME": str(settings.home), "WORKBENCH_DATA_DIR": str(settings.data_dir),
            "WORKBENCH_MODELS_DIR": str(settings.models_dir),
            "WORKBENCH_EXPERIMENTS_DIR": str(settings.experiments_dir),
            "WORKBENCH_MLFLOW_URI": settings.mlflow_uri, "WORKBENCH_SEED": str(settings.seed),
            **({"WORKBENCH_DATA_MIRROR": str(settings.data_mirror)}
               if settings.data_mirror else {})}


def run_sweep(spec: SweepSpec, settings: Settings | None = None, jobs: int = 1,
              only: Iterable[str] | None = None, dry_run: bool = False, force: bool = False,
              progress: bool = True, base: Path | None = None) -> SweepReport:
    """Run (or, with ``dry_run``, plan) the sweep's variants; see the module docstring."""
    import mlflow
    from tqdm.auto import tqdm

    from workbench import tracking

    settings = settings or get_settings()
    variants = expand(spec, base)
    if only:
        wanted = list(only)
        unknown = sorted(set(wanted) - {v.name for v in variants})
        if unknown:
            raise SweepError(f"no variant(s) {unknown} in sweep {spec.name!r}; it has "
                             f"{[v.name for v in variants]}")
        variants = [v for v in variants if v.name in wanted]
    if jobs < 1:
        raise SweepError(f"jobs must be >= 1, got {jobs}")
    experiment_id = tracking.set_experiment(spec.experiment, settings)
    client = mlflow.MlflowClient()
    done = {} if force else _finished_hashes(client, experiment_id)
    report = SweepReport(spec.name)
    todo = []
    for v in variants:
        if v.params_hash in done:
            report.outcomes.append(Outcome(v.name, "SKIPPED", run_id=done[v.params_hash]))
        else:
            todo.append(v)
    if dry_run:
        report.outcomes += [Outcome(v.name, "PLANNED") for v in todo]
        return report
    if not todo:
        return report
    out_dir = settings.experiments_dir / "runs" / spec.name
    parent = client.create_run(experiment_id, run_name=f"sweep {spec.name}",
                               tags={TAG_SWEEP: spec.name, TAG_SWEEP_PARENT: "true"})
    report.parent_run_id = parent.info.run_id
    client.log_param(parent.info.run_id, "variants", json.dumps([v.name for v in todo]))
    client.log_param(parent.info.run_id, "jobs", jobs)
    env = _settings_env(settings)
    uids = {v.name: uuid.uuid4().hex for v in todo}

    def job(v: Variant) -> tuple:
        tags = {TAG_PARENT: parent.info.run_id, TAG_SWEEP: spec.name, TAG_VARIANT: v.name,
                TAG_HASH: v.params_hash, TAG_UID: uids[v.name]}
        return (str(v.notebook), str(out_dir / f"{v.name}.ipynb"), v.parameters, tags, env)

    bar = tqdm(total=len(todo), desc=f"sweep {spec.name}", unit="variant", disable=not progress)
    by_name = {v.name: v for v in todo}
    results: list[tuple[str, tuple[str, float, str]]] = []
    if jobs == 1:
        for v in todo:
            results.append((v.name, _run_one(*job(v))))
            _record(client, experiment_id, by_name[v.name], results[-1][1], uids[v.name],
                    parent.info.run_id, spec.name, out_dir, report)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_run_one, *job(v)): v.name for v in todo}
            for future in as_completed(futures):
                name = futures[future]
                _record(client, experiment_id, by_name[name], future.result(), uids[name],
                        parent.info.run_id, spec.name, out_dir, report)
                bar.update()
    bar.close()
    failed = len(report.failed)
    client.log_metric(parent.info.run_id, "variants_run", len(todo))
    client.log_metric(parent.info.run_id, "variants_failed", failed)
    client.set_terminated(parent.info.run_id, "FAILED" if failed else "FINISHED")
    return report


def _record(client, experiment_id: str, variant: Variant, result: tuple[str, float, str],
            uid: str, parent_id: str, sweep: str, out_dir: Path, report: SweepReport) -> None:
    """Attach the executed notebook to the variant's run (creating a run when the notebook
    failed before opening one) and record the failure."""
    status, seconds, error = result
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{TAG_UID}` = '{uid}'")
    if runs:
        run_id = runs[0].info.run_id
    else:
        run = client.create_run(experiment_id, run_name=f"{sweep}/{variant.name}", tags={
            TAG_PARENT: parent_id, TAG_SWEEP: sweep, TAG_VARIANT: variant.name,
            TAG_HASH: variant.params_hash, TAG_UID: uid})
        run_id = run.info.run_id
        for key, value in variant.parameters.items():
            client.log_param(run_id, key, value)
        if status == "FINISHED":  # a notebook that tracks nothing (e.g. track=False)
            client.set_terminated(run_id, "FINISHED")
    output = out_dir / f"{variant.name}.ipynb"
    if output.is_file():
        client.log_artifact(run_id, str(output), "notebook")
    if status == "FAILED":
        client.set_tag(run_id, TAG_ERROR, error[:4900])
        client.set_terminated(run_id, "FAILED")
    report.outcomes.append(Outcome(variant.name, status, seconds, error, run_id, str(output)))
