"""Sweep files: what a sweep is, read and checked before anything runs.

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
(:mod:`workbench.experiments.tuning`).

Everything is validated before anything runs (:func:`expand`): unknown keys, missing
notebooks, parameters a notebook does not declare (papermill would ignore them silently),
values whose type does not match the notebook's default, and, for notebooks backed by a task
(:func:`task_checks`), the task's own configuration built from the parameters (so a bad
hyperparameter, or a search space naming an unknown one, is refused by name). A variant's
identity (:attr:`Variant.params_hash`) is what the runner skips finished work by.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from workbench import WorkbenchError
from workbench.errors import describe_errors, short_repr
from workbench.experiments.notebooks import NOTEBOOKS_DIR, declared_parameters
from workbench.experiments.tuning import SearchSpec
from workbench.settings import Settings, get_settings
from workbench.storage import read_yaml

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.=,+-]*$"


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

    _folder: Path | None = PrivateAttr(None)

    @property
    def folder(self) -> Path | None:
        """The folder of the sweep file it was read from (:func:`load_sweep`); its notebooks
        may sit there. None for a spec built in code: notebooks come from ``notebooks/``."""
        return self._folder

    @model_validator(mode="after")
    def _has_variants(self) -> SweepSpec:
        if not self.variants and not self.grid:
            raise ValueError("no variants: give a `variants` list and/or a `grid`")
        grids = [self.grid, *(v.grid for v in self.variants)]
        empty = [key for grid in grids for key, values in grid.items() if not values]
        if empty:
            raise ValueError(f"grid key(s) {empty} have no values")
        return self


OUTPUT_SWITCHES = ("save_model", "register_model")
"""Notebook 03's switches for where a model goes. A variant always carries them (unset: the
notebook's default, false), and set to true they are left out of its identity: until issue
26 true was their default, so a finished run of the default sweeps recorded then (without
them) is still recognised now that the sweeps pass them, while a run that saved nothing is
not taken for one that did (adding the switches to a variant runs it again)."""


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
    """The task's configuration built from ``parameters`` (notebooks with a task check)."""

    @property
    def params_hash(self) -> str:
        """Identity of the work: the notebook's name, the parameters, the task's resolved
        configuration and, for a study, its search settings and space."""
        parameters = {k: v for k, v in self.parameters.items()
                      if not (k in OUTPUT_SWITCHES and v is True)}
        identity = {"notebook": self.notebook.name, "parameters": parameters}
        if self.resolved is not None:
            identity["resolved"] = self.resolved
        if self.search is not None:
            identity["search"] = self.search.identity()
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resolve_notebook(name: str, base: Path | None) -> Path:
    """The notebook a sweep names: found in the project's ``notebooks/`` or beside the sweep
    file (``base``; None: ``notebooks/`` only), and only there (never the current directory;
    a name climbing out with ``..`` or an absolute path elsewhere is refused: a sweep file
    must not run any notebook on disk)."""
    roots = [NOTEBOOKS_DIR.resolve(), *([base.resolve()] if base is not None else [])]
    places = f"{NOTEBOOKS_DIR} and the sweep file's folder {base}" if base else NOTEBOOKS_DIR
    candidates = [root / name for root in roots]
    candidates += [p.with_suffix(".ipynb") for p in candidates if p.suffix != ".ipynb"]
    for path in candidates:
        resolved = path.resolve()
        if resolved.is_file():
            if not any(resolved.is_relative_to(root) for root in roots):
                raise SweepError(f"notebook {name!r} is outside {places}; sweeps run only "
                                 f"notebooks from there")
            return resolved
    raise SweepError(f"notebook {name!r} not found (looked in {places})")


def load_sweep(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and validate a sweep file (structure only; :func:`expand` checks notebooks)."""
    path = Path(path)
    raw = read_yaml(path, "sweep file", SweepError)
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: a sweep file is a mapping of keys (experiment, notebook, "
                         f"parameters, variants, grid), got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    try:
        spec = SweepSpec(**raw)
    except ValidationError as exc:
        raise SweepError(f"{path}: invalid sweep file: {describe_errors(exc)}") from None
    spec._folder = path.resolve().parent
    return spec


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
        raise SweepError(f"{where}: parameter {name!r} = {short_repr(value)} should be "
                         f"a {type(default).__name__} like the notebook's default {default!r}")


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


def task_checks() -> dict[str, Callable[..., dict[str, Any]]]:
    """Notebooks backed by a task, by file name: the task's ``check_parameters(parameters)``,
    which builds the task's resolved configuration (a dict) or raises
    :class:`workbench.WorkbenchError` naming a bad parameter. Imported here, when a sweep is
    expanded: the tasks sit below the experiments (docs/development.md, "Import rules")."""
    from workbench.tasks import collaborative, content, hybrid

    return {"02_content_index.ipynb": content.check_parameters,
            "03_train_collaborative.ipynb": collaborative.check_parameters,
            "04_hybrid_evaluation.ipynb": hybrid.check_parameters}


def expand(spec: SweepSpec, base: Path | None = None) -> list[Variant]:
    """The sweep's variants with complete parameters, validated against their notebooks
    (found in ``notebooks/`` or in ``base``, by default the sweep file's folder)."""
    base = base or spec.folder
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
        for key in OUTPUT_SWITCHES:  # explicit, so that "not set" (false) is its own work
            if key in declared:
                parameters.setdefault(key, declared[key])
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
    check = task_checks().get(notebook.name)
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
    parameters: {{save_model: true, register_model: true}}   # the champion comes from here
    grid:
      model: [popularity, itemknn, ease, ials, blend]   # blend: EASE + item-kNN + content kNN
  - name: hybrid-alpha
    notebook: 04_hybrid_evaluation
    stage: 1
"""
"""What `workbench pipeline` writes for a dataset without a default sweep."""


DEFAULT_ZOO = ("popularity", "itemknn", "ease", "ials", "blend")
DEFAULT_BLEND = {"ease": 1.0, "itemknn": 0.5, "content_knn": 0.3}


def fitting_zoo(dataset: str, settings: Settings | None = None
                ) -> tuple[list[str], dict[str, float], list[str]]:
    """The default zoo's models that fit the memory budget on the prepared ``dataset``
    (:mod:`workbench.collaborative.capacity`), the blend's members, and one note per change:
    EASE that does not fit gives way to SANSA (when installed and it fits), else to iALS;
    any other model that does not fit is left out."""
    import importlib.util

    from workbench import data
    from workbench.collaborative import model_class
    from workbench.collaborative.capacity import ModelTooLarge, Shape, check_fits

    inter = data.load_interactions(dataset, settings)
    users = int(inter["user_id"].nunique())
    shape = Shape(users, len(data.load_items(dataset, settings)), len(inter) - users)
    members, notes = dict(DEFAULT_BLEND), []

    def fits(name: str, params: dict | None = None) -> bool:
        try:
            check_fits(name, model_class(name).complete_params(params or {}), shape, settings)
        except ModelTooLarge as exc:
            notes.append(str(exc))
            return False
        return True

    models = []
    for name in DEFAULT_ZOO[:-1]:
        if fits(name):
            models.append(name)
        elif name == "ease":
            stand_in = "sansa" if importlib.util.find_spec("sansa") and fits("sansa") \
                else "ials"
            members[stand_in] = members.pop("ease")
            if stand_in not in models:
                models.append(stand_in)
    members = {name: weight for name, weight in members.items()
               if name == "content_knn" or name in models}
    if fits("blend", {"members": members}):
        models.append("blend")
    return models, members, notes


def write_default_sweep(dataset: str, settings: Settings | None = None) -> Path:
    """Write ``<experiments_dir>/<dataset>_default.yaml`` (:data:`DEFAULT_SWEEP`) and return
    its path; an existing file is never replaced. On a dataset too large for some of the
    default models (:func:`fitting_zoo`), the grid holds those that fit, the blend's members
    follow, and the file says what was left out and why."""
    from workbench.storage import write_text

    settings = settings or get_settings()
    path = settings.sweep_file(f"{dataset}_default")
    if path.exists():
        return path
    text = DEFAULT_SWEEP.format(name=dataset)
    models, members, notes = fitting_zoo(dataset, settings)
    if notes:
        zoo = "      model: [popularity, itemknn, ease, ials, blend]   # blend: EASE + " \
              "item-kNN + content kNN\n"
        grid = [m for m in models if m != "blend"]
        blend = (f"  - name: blend\n    notebook: 03_train_collaborative\n    parameters: "
                 f"{{model: blend, params: {{members: {json.dumps(members)}}}, "
                 f"save_model: true, register_model: true}}\n"
                 if "blend" in models else "")
        why = "".join(f"# - {note}\n" for note in notes)
        text = text.replace(zoo, f"      model: [{', '.join(grid)}]\n{blend}").replace(
            "variants:\n", f"# Left out or replaced, too large for the memory budget:\n{why}"
                           f"variants:\n", 1)
    write_text(path, text)
    return path
