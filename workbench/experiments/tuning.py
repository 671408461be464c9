"""Tuning studies: a sweep variant with a ``search:`` block is an Optuna study over a space of
parameters instead of a grid.

In a sweep file (top-level defaults, overridden per variant)::

    search:
      trials: 20                        # trials per study (the same budget for every model)
      objective: val_full_ndcg_at_10    # a metric the notebook logs; never a test metric
      direction: maximize
      sampler: tpe                      # tpe (Optuna's default) or random
      seed: 42
    variants:
      - name: ease
        parameters: {model: ease}
        search:
          space:
            params.l2: {float: [10, 5000], log: true}     # a float, log-uniform
            params.neighbours: {int: [5, 400], log: true}  # an integer
            params.weighting: {choice: [binary, rating]}   # a categorical

Each trial is one run of the variant's notebook with the sampled values, logged as a child
MLflow run of the sweep (tags ``workbench.study`` and ``workbench.trial``); its objective is
read back from that run. The study lives in ``settings.optuna_uri`` (SQLite beside the MLflow
store) under a name that includes the variant's parameter hash, so a rerun resumes it: finished
trials count, an interrupted one is marked failed, and only the missing trials run. A changed
space or fixed parameter is a new study.

On a cluster (docs/cluster.md) the driver still asks and tells; only the trials run as Ray
tasks. The storage is then a database several machines reach (``WORKBENCH_OPTUNA_URI=
postgresql+psycopg2://...``, the ``optuna`` database of ``workbench tracking-server``): one
that does not answer is refused in one line before any run is opened (:func:`check_storage`),
and a study is run by one driver at a time across machines, not only on one
(:func:`study_lock`: a PostgreSQL advisory lock beside the file lock).
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench import WorkbenchError
from workbench.errors import first_line

TAG_STUDY = "workbench.study"
TAG_TRIAL = "workbench.trial"


class Distribution(BaseModel):
    """One dimension of a search space: ``{float: [lo, hi]}``, ``{int: [lo, hi]}`` (with
    optional ``log`` and ``step``) or ``{choice: [...]}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    float_range: tuple[float, float] | None = Field(None, alias="float")
    int_range: tuple[int, int] | None = Field(None, alias="int")
    choice: list[Any] | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        kinds = [k for k in ("float_range", "int_range", "choice") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of float: [low, high], int: [low, high] or "
                             "choice: [values]")
        if self.choice is not None:
            if not self.choice:
                raise ValueError("choice needs at least one value")
            if self.log or self.step:
                raise ValueError("log and step apply to float and int ranges, not choice")
            return self
        low, high = self.float_range or self.int_range
        if self.int_range is not None and self.step is not None and self.step != int(self.step):
            raise ValueError(f"an int range needs a whole step, got {self.step}")
        if not low < high:
            raise ValueError(f"low must be below high, got [{low}, {high}]")
        if self.log and low <= 0:
            raise ValueError(f"a log range needs low > 0, got {low}")
        if self.log and self.step:
            raise ValueError("log and step cannot be combined")
        return self

    @property
    def _encoded(self) -> bool:
        """Choices Optuna cannot store (lists, dicts) travel as JSON strings."""
        return self.choice is not None and not all(
            v is None or isinstance(v, bool | int | float | str) for v in self.choice)

    def to_optuna(self):
        """The Optuna distribution."""
        from optuna import distributions as d

        if self.choice is not None:
            return d.CategoricalDistribution(
                [json.dumps(v) for v in self.choice] if self._encoded else self.choice)
        if self.int_range is not None:
            return d.IntDistribution(*self.int_range, log=self.log, step=int(self.step or 1))
        return d.FloatDistribution(*self.float_range, log=self.log, step=self.step)

    def decode(self, value: Any) -> Any:
        """A sampled value as the notebook parameter (JSON-encoded choices decoded)."""
        return json.loads(value) if self._encoded and isinstance(value, str) else value

    def probe_values(self) -> list[Any]:
        """Values that validation builds a config with: every choice; an int range's bounds;
        a float range's bounds and a fractional value inside (so a float range on an
        integer parameter is refused before any trial runs)."""
        if self.choice is not None:
            return list(self.choice)
        if self.int_range is not None:
            return list(self.int_range)
        low, high = self.float_range
        inside = low * (high / low) ** 0.37 if self.log else low + (high - low) * 0.37
        return [low, inside, high]


class SearchSpec(BaseModel):
    """A tuning study's settings and space (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    trials: int | None = Field(None, gt=0)
    objective: str = "val_full_ndcg_at_10"
    direction: Literal["maximize", "minimize"] = "maximize"
    sampler: Literal["tpe", "random"] = "tpe"
    seed: int = 42
    space: dict[str, Distribution] = {}

    @model_validator(mode="after")
    def _not_on_test(self) -> SearchSpec:
        if self.objective.startswith("test_"):
            raise ValueError(f"objective {self.objective!r} is a test metric: choose on "
                             f"validation (val_*), report test once")
        return self

    def over(self, base: SearchSpec | None) -> SearchSpec:
        """This spec's fields over ``base``'s (spaces merged, this one winning per key)."""
        if base is None:
            return self
        values = {**base.model_dump(exclude={"space"}),
                  **self.model_dump(include=self.model_fields_set - {"space"})}
        return SearchSpec(**values, space={**base.space, **self.space})

    def identity(self) -> dict[str, Any]:
        """What makes two studies the same study (everything but the trial count)."""
        return {**self.model_dump(exclude={"trials", "space"}),
                "space": {k: v.model_dump(by_alias=True, exclude_none=True)
                          for k, v in sorted(self.space.items())}}


def decode_params(search: SearchSpec, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's sampled values as notebook parameters (see :meth:`Distribution.decode`)."""
    return {k: search.space[k].decode(v) if k in search.space else v for k, v in params.items()}


_ANSWERED: set[str] = set()
"""Storages that answered in this process (checked once)."""


def storage_url(uri: str) -> str:
    """The Optuna storage URI as SQLAlchemy gets it: ``postgresql://`` names psycopg2, the
    driver that is installed (:func:`workbench.tracking_server.with_driver`)."""
    from workbench.tracking_server import with_driver

    return with_driver(uri)


def _shown(uri: str) -> str:
    """``uri`` without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: say so where it is used
        return uri


def check_storage(uri: str, timeout_s: float = 5) -> None:
    """A :class:`WorkbenchError` naming ``uri`` when the study storage there does not answer
    (a database server that is down, a missing database); nothing for SQLite, which is
    created on use, or a storage that answered before in this process. Optuna itself would
    fail inside the sweep, after its runs were opened, with a page of SQLAlchemy."""
    uri = storage_url(uri)
    if uri.startswith("sqlite") or uri in _ANSWERED:
        return
    import sqlalchemy

    try:
        url = sqlalchemy.engine.make_url(uri)
        timeout = ({"connect_timeout": int(timeout_s)} if url.get_backend_name() in
                   ("postgresql", "mysql") else {})
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                          connect_args=timeout)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as exc:  # OperationalError, ArgumentError, a missing driver ...
        first = first_line(exc, type(exc).__name__)
        raise WorkbenchError(
            f"the Optuna storage {_shown(uri)} does not answer ({first[:200]}); start it "
            f"(`make tracking-server` creates its `optuna` database, docs/cluster.md) or unset "
            f"WORKBENCH_OPTUNA_URI to keep the studies in experiments/optuna.db") from None
    _ANSWERED.add(uri)


@contextlib.contextmanager
def study_lock(name: str, folder, storage: str | None = None):
    """Hold the study's lock or fail at once: two processes running one study would mark
    each other's trials failed and run more trials than asked. The lock file
    ``<folder>/.studies/<hash>.lock`` guards this machine; with a PostgreSQL ``storage``
    (shared by drivers on several machines) a session advisory lock on the study's name
    guards them all, released when its connection closes, also when the driver dies."""
    import hashlib
    from pathlib import Path

    from filelock import Timeout

    from workbench.storage import file_lock

    path = Path(folder) / ".studies" / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"
    lock = file_lock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise WorkbenchError(f"study {name!r} is being run by another process; wait for "
                             f"it to finish") from None
    try:
        with _advisory_lock(name, storage_url(storage or "sqlite://")):
            yield
    finally:
        lock.release()


@contextlib.contextmanager
def _advisory_lock(name: str, storage: str):
    """PostgreSQL's session advisory lock on ``name`` for the block (nothing for other
    storages); a :class:`WorkbenchError` when another session holds it."""
    if not storage.startswith("postgresql"):
        yield
        return
    import hashlib

    import sqlalchemy

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    # keepalives: a study can run for hours on an idle connection; a dropped one would
    # release the lock unnoticed
    url = sqlalchemy.engine.make_url(storage)
    keepalive = ({"keepalives": 1, "keepalives_idle": 30} if url.get_driver_name() == "psycopg2"
                 else {})
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args=keepalive)
    try:
        with engine.connect() as connection:
            held = connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:key)"),
                                      {"key": key}).scalar()
            connection.commit()
            if not held:
                raise WorkbenchError(f"study {name!r} is being run by another driver (its "
                                     f"lock in {_shown(storage)} is held); wait for it to "
                                     f"finish")
            try:
                yield
            finally:
                with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"),
                                       {"key": key})
    finally:
        engine.dispose()


def study_name(experiment: str, variant: str, params_hash: str) -> str:
    """The Optuna study of a variant: experiment, variant and parameter hash."""
    return f"{experiment}/{variant}/{params_hash}"


def open_study(name: str, search: SearchSpec, storage: str, fresh: bool = False):
    """Create or load the study; with ``fresh`` an existing one is deleted first. Trials
    left RUNNING by an interrupted invocation are marked FAIL."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = storage_url(storage)
    if fresh:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage)
    sampler = (optuna.samplers.TPESampler(seed=search.seed, constant_liar=True)
               if search.sampler == "tpe" else optuna.samplers.RandomSampler(seed=search.seed))
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                direction=search.direction, load_if_exists=True)
    for trial in study.get_trials(deepcopy=False,
                                  states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    return study


def load_study(name: str, storage: str):
    """An existing study, or a clear error (also when the storage does not answer)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_storage(storage)
    storage = storage_url(storage)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise WorkbenchError(f"no tuning study {name!r} in {storage}; run the sweep first "
                             f"(`workbench experiments run`)") from None


def completed(study) -> list:
    """The study's COMPLETE trials."""
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def importances(study) -> dict[str, float]:
    """fANOVA importance of each parameter for the objective (empty when fewer than two
    parameters or three finished trials)."""
    import optuna

    if len(study.best_trial.params) < 2 or len(completed(study)) < 3:
        return {}
    try:
        values = optuna.importance.get_param_importances(study, evaluator=None)
    except (ValueError, RuntimeError):
        return {}
    return {k: float(v) for k, v in values.items() if math.isfinite(v)}


def study_figure(study, title: str):
    """The optimisation history (objective per trial and the best so far)."""
    import matplotlib.pyplot as plt

    trials = completed(study)
    values = [t.value for t in trials]
    best = []
    for v in values:
        better = max if study.direction.name == "MAXIMIZE" else min
        best.append(v if not best else better(best[-1], v))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([t.number for t in trials], values, "o", alpha=0.6, label="trial")
    ax.plot([t.number for t in trials], best, "-", label="best so far")
    ax.set(title=title, xlabel="trial", ylabel="objective")
    ax.legend()
    fig.tight_layout()
    return fig


def best_by_choice(study) -> dict[str, dict[str, float]]:
    """For each categorical parameter, the best objective among the trials with each choice
    (which choice the good trials used: evidence beyond the single best trial)."""
    from optuna.distributions import CategoricalDistribution

    better = max if study.direction.name == "MAXIMIZE" else min
    out: dict[str, dict[str, float]] = {}
    for trial in completed(study):
        for name, value in trial.params.items():
            if isinstance(trial.distributions.get(name), CategoricalDistribution):
                slot = out.setdefault(name, {})
                key = str(value)
                slot[key] = better(slot.get(key, trial.value), trial.value)
    return out


def summary(study) -> dict[str, Any]:
    """Best value and parameters, trial counts, importances and the best value per
    categorical choice, as plain JSON values."""
    trials = completed(study)
    if not trials:
        return {"trials_complete": 0}
    return {"best_value": float(study.best_value), "best_params": study.best_params,
            "best_trial": study.best_trial.number, "trials_complete": len(trials),
            "importance": importances(study), "best_by_choice": best_by_choice(study)}


def dumps(value: Any) -> str:
    """JSON of ``value`` for MLflow text artifacts."""
    return json.dumps(value, indent=2, default=str)
