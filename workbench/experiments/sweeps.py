"""Sweeps: a YAML file names notebooks, fixed parameters and variants; each variant is one
papermill run, tracked as a child MLflow run under one parent run per sweep invocation.

The parts, one module each:

- :mod:`workbench.experiments.spec`: the sweep file's format, and its validation before
  anything runs (:func:`load_sweep`, :func:`expand`);
- :mod:`workbench.experiments.executor`: where the notebook runs happen (the
  :class:`~workbench.experiments.executor.Executor` interface; this machine's
  :class:`~workbench.experiments.executor.LocalExecutor`);
- :mod:`workbench.experiments.bookkeeping`: the MLflow runs (resume, failures, killed sweeps);
- :mod:`workbench.experiments.status`: the status lines beside the progress bar;
- :mod:`workbench.experiments.tuning`: a variant with a ``search:`` block is an Optuna study;
- this module: :func:`run_sweep`, which ties them together.

Decisions (the bookkeeping's are in its module):

- **Stages** run in order; a later stage's variants are expanded again once the earlier ones
  have finished, so their identity reflects what those produced.
- **Failure**: a failing variant (a failing cell, a crashed kernel, a dead worker: each a
  ``FAILED`` result of the executor) has its run marked FAILED by the bookkeeping; the other
  variants still run; the command exits non-zero.
- **Parallel** (``jobs`` > 1): variants run in separate processes (spawned, so none inherits
  TensorFlow state), at most ``jobs`` at a time. The tracking store and the parent run are
  created before any process starts; the runner's own bookkeeping (artifacts, tags, status)
  happens in this process only, one result at a time.
- **Ctrl-C** stops the workers and their kernels (workers ignore SIGINT; the executor kills
  them), marks this invocation's runs KILLED and ends with one line and exit code 130
  (:class:`SweepInterrupted`); a rerun resumes.
- **Kernels**: papermill starts one kernel per variant and shuts it down when the notebook
  ends, failed or not; no kernel outlives its variant.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import WorkbenchError
from workbench.errors import first_line
from workbench.experiments import tuning
from workbench.experiments.bookkeeping import SweepRuns, finished_hashes
from workbench.experiments.executor import KERNEL_LOG, Executor, Job, JobResult, LocalExecutor
from workbench.experiments.spec import (
    SweepError,
    SweepSpec,
    Variant,
    expand,
    merge_parameters,
)
from workbench.experiments.status import StatusLines
from workbench.settings import Settings, get_settings


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
    notes: list[str] = field(default_factory=list)
    """What went wrong around the runs, not in them (e.g. the parent run's model table)."""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "FAILED"]


class SweepInterrupted(SweepError):
    """Ctrl-C: the workers and their kernels are stopped, the runs marked KILLED."""

    exit_code = 130


def run_sweep(spec: SweepSpec, settings: Settings | None = None, jobs: int = 1,
              only: Iterable[str] | None = None, dry_run: bool = False, force: bool = False,
              progress: bool = True, base: Path | None = None,
              executor: Executor | None = None) -> SweepReport:
    """Run (or, with ``dry_run``, plan) the sweep's variants; see the module docstring.

    ``jobs`` variants run at a time on this machine (:class:`LocalExecutor`), or as many as
    ``executor`` takes when one is given (the caller closes it; a Ctrl-C stops it). ``only``
    names variants or variant groups; ``force`` reruns finished work. Stages run in order. A
    later stage's variants are expanded again once the earlier ones have finished, so their
    identity reflects what those produced (notebook 04's includes the champion that stage 0
    chose): a changed champion reruns the hybrid variant. A sweep with tuning studies checks
    their storage first (:func:`~workbench.experiments.tuning.check_storage`)."""
    import mlflow

    from workbench import tracking

    settings = settings or get_settings()
    variants = _selected(spec, expand(spec, base), only)
    if jobs < 1:
        raise SweepError(f"jobs must be >= 1, got {jobs}")
    if any(v.search is not None for v in variants):
        tuning.check_storage(settings.optuna_uri)  # before any run is opened
    experiment_id = tracking.set_experiment(spec.experiment, settings)
    client = mlflow.MlflowClient()
    report = SweepReport(spec.name)
    runner = None
    try:
        for n, stage in enumerate(sorted({v.stage for v in variants})):
            if n and not dry_run:
                variants = _selected(spec, expand(spec, base), only)
            done = {} if force else finished_hashes(client, experiment_id)
            todo = []
            for v in (v for v in variants if v.stage == stage):
                finished = (None if v.search is None or dry_run or force else
                            _finished_study(spec, v, settings))
                if finished is not None:  # no run opened for it, as for a finished variant
                    report.outcomes.append(finished)
                elif v.search is not None:
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
            runner = runner or _Runner(spec, settings, SweepRuns(client, experiment_id,
                                                                 spec.name),
                                       executor or LocalExecutor(jobs), progress, report,
                                       owns_executor=executor is None)
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
    """The variants named in ``only``: a full name (``zoo.model=ease``), a variant group of
    the sweep file (``zoo``: each of its grid points), a group with some of its grid keys
    (``peers.dataset=ml1m``: every grid point of ``peers`` on ml1m, in any key order), or
    grid keys alone (``dataset=ml1m``: every group's grid points on ml1m)."""
    if not only:
        return variants
    wanted = list(only)
    groups = sorted((g.name for g in spec.variants), key=len, reverse=True)

    def split(name: str) -> tuple[str, str]:
        """``(group, grid pairs)``: a name starting with a group of the file (``peers.`` or
        ``peers``) is that group's; any other is grid pairs alone (``dataset=ml1m``, also a
        variant of a top-level grid, whose name has no group; keys may hold dots)."""
        for group in groups:
            if name == group or name.startswith(group + "."):
                return group, name[len(group) + 1:]
        return "", name

    def chosen(variant: Variant, name: str) -> bool:
        if variant.name == name or variant.name.startswith(name + "."):
            return True
        group, pairs = split(name)
        own_group, own_pairs = split(variant.name)
        return ("=" in pairs and group in ("", own_group)
                and set(_PAIR_SPLIT.split(pairs)) <= set(_PAIR_SPLIT.split(own_pairs)))

    unknown = sorted(w for w in set(wanted) if not any(chosen(v, w) for v in variants))
    if unknown:
        where = (f"in the group(s) {[g.name for g in spec.variants]}" if spec.variants
                 else "in its top-level grid")
        raise SweepError(f"no variant(s) {unknown} in sweep {spec.name!r}; its "
                         f"{len(variants)} variant(s) are {where}, e.g. {variants[0].name!r} "
                         f"(all of them: --dry-run)")
    return [v for v in variants if any(chosen(v, w) for w in wanted)]


_PAIR_SPLIT = re.compile(r",(?=[\w.]+=)")
"""Splits a variant's ``key=value,key=value`` part at the commas that start a new key (a
value may hold commas: ``mlp_layers=[64, 32]``)."""


class _Runner:
    """One sweep invocation: its runs (:class:`SweepRuns`), its executor, the status lines."""

    def __init__(self, spec: SweepSpec, settings: Settings, runs: SweepRuns,
                 executor: Executor, progress: bool, report: SweepReport,
                 owns_executor: bool = True) -> None:
        self.spec, self.settings, self.runs, self.executor = spec, settings, runs, executor
        self.owns_executor = owns_executor
        self.progress, self.report = progress, report
        self.out_dir = settings.runs_dir / spec.name
        self.env = settings.to_env()
        report.orphans_killed = runs.orphans_killed
        report.parent_run_id = runs.parent_id
        self.status: StatusLines | None = None
        self.ran = 0

    def _job(self, name: str, variant: Variant, parameters: dict[str, Any],
             extra_tags: dict[str, str] | None = None) -> tuple[Job, str]:
        """The job running variant (or trial) ``name``, and the uid its run is tagged with
        (the run's source: the variant's notebook)."""
        from workbench.tracking import source_tags

        uid = uuid.uuid4().hex
        stem = name.replace("/", ".")
        progress = self.out_dir / f"{stem}.progress"
        if self.status is not None:
            self.status.add(name, progress)
        job = Job(str(variant.notebook), str(self.out_dir / f"{stem}.ipynb"), parameters,
                  self.runs.child_tags(name, variant.params_hash, uid,
                                       {**source_tags(variant.notebook), **(extra_tags or {})}),
                  {**self.env, "WORKBENCH_PROGRESS_FILE": str(progress)},
                  str(self.settings.runs_dir / KERNEL_LOG))
        return job, uid

    def _drive(self, jobs: Iterator[tuple[Hashable, Job]],
               taken: Callable[[Hashable, JobResult], None]) -> None:
        """Keep the executor's slots filled from ``jobs``; hand each result to ``taken``."""
        executor = self.executor
        pending = True
        while True:
            while pending and executor.running < executor.slots:
                job = next(jobs, None)
                if job is None:
                    pending = False
                else:
                    executor.submit(*job)
            if not executor.running:
                return
            taken(*executor.next_result())

    def _with_bar(self, total: int, description: str, unit: str):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=description, unit=unit, disable=not self.progress)
        self.status = StatusLines(bar)
        return bar

    def _close_bar(self, bar) -> None:
        self.status.close()
        bar.close()

    def interrupted(self) -> int:
        """Ctrl-C: stop the executor, mark this invocation's runs KILLED; how many."""
        self.executor.stop()
        return self.runs.interrupted()

    def run_plain(self, variants: list[Variant]) -> None:
        """Run plain variants, as many at a time as the executor takes."""
        if not variants:
            return
        self.ran += len(variants)
        self.runs.log_stage(variants[0].stage, [v.name for v in variants])
        bar = self._with_bar(len(variants), f"sweep {self.spec.name}", "variant")
        by_name = {v.name: v for v in variants}
        uids: dict[str, tuple[str, str]] = {}

        def jobs() -> Iterator[tuple[Hashable, Job]]:
            for v in variants:
                job, uid = self._job(v.name, v, v.parameters)
                uids[v.name] = (uid, job.output)
                yield v.name, job

        def taken(name: Hashable, result: JobResult) -> None:
            outcome = self._record(by_name[name], name, result, *uids[name])
            if outcome.status == "FINISHED":  # a forced rerun: the earlier run steps aside
                self._supersede(name, by_name[name].params_hash, outcome.run_id)
            bar.update()

        try:
            self._drive(jobs(), taken)
        finally:
            self._close_bar(bar)

    def run_study(self, variant: Variant, force: bool) -> None:
        """Run the missing trials of ``variant``'s study, as many at a time as the executor
        takes (ask/tell)."""
        name = tuning.study_name(self.spec.experiment, variant.name, variant.params_hash)
        with tuning.study_lock(name, self.settings.experiments_dir,
                               self.settings.optuna_uri):
            self._run_study(variant, name, force)

    def _run_study(self, variant: Variant, name: str, force: bool) -> None:
        import optuna

        search = variant.search
        study = tuning.open_study(name, search, self.settings.optuna_uri, fresh=force)
        left = search.trials - len(tuning.completed(study))
        if left <= 0:
            self._study_outcome(variant, study, "SKIPPED")
            return
        distributions = {key: dist.to_optuna() for key, dist in search.space.items()}
        bar = self._with_bar(left, f"study {variant.name}", "trial")
        trials: dict[int, tuple[str, str, str]] = {}

        def jobs() -> Iterator[tuple[Hashable, Job]]:
            for _ in range(left):
                trial = study.ask(distributions)
                trial_name = f"{variant.name}/trial-{trial.number:03d}"
                parameters = merge_parameters(variant.parameters,
                                              tuning.decode_params(search, trial.params))
                job, uid = self._job(trial_name, variant, parameters, {
                    tuning.TAG_STUDY: name, tuning.TAG_TRIAL: str(trial.number)})
                trials[trial.number] = (trial_name, uid, job.output)
                self.ran += 1
                yield trial.number, job

        def taken(number: Hashable, result: JobResult) -> None:
            trial_name, uid, output = trials.pop(number)
            outcome = self._record(variant, trial_name, result, uid, output)
            value = self._objective(outcome, search.objective)
            if value is None:
                study.tell(number, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(number, value)
                outcome.value = value
            bar.update()

        try:
            self._drive(jobs(), taken)
        finally:
            self._close_bar(bar)
        self._study_outcome(variant, study, "FINISHED")

    def _objective(self, outcome: Outcome, metric: str) -> float | None:
        if outcome.status != "FINISHED":
            return None
        value = self.runs.client.get_run(outcome.run_id).data.metrics.get(metric)
        if value is None:
            outcome.status = "FAILED"
            outcome.error = f"the run logged no metric {metric!r} (the study's objective)"
            self.runs.note_error(outcome.run_id, outcome.error)
            return None
        return float(value)

    def _study_outcome(self, variant: Variant, study, status: str) -> None:
        import matplotlib.pyplot as plt

        outcome, info = _study_report(variant, study, status)
        self.report.outcomes.append(outcome)
        best = outcome.value
        if best is None:
            return
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", variant.name)  # MLflow's allowed characters
        figure = tuning.study_figure(study, f"{self.spec.name}: {variant.name}")
        self.runs.log_study(key, best, info["best_params"], tuning.dumps(info), figure)
        plt.close(figure)

    def _record(self, variant: Variant, name: str, result: JobResult, uid: str,
                output: str) -> Outcome:
        """The variant's outcome, its run completed (:meth:`SweepRuns.record`)."""
        if self.status is not None:
            self.status.done(name)
        run_id = self.runs.record(name, variant.params_hash, variant.parameters, uid,
                                  result.status, result.error, output, result.node)
        outcome = Outcome(name, result.status, result.seconds, result.error, run_id, output)
        self.report.outcomes.append(outcome)
        return outcome

    def _supersede(self, name: str, params_hash: str, run_id: str) -> None:
        """:meth:`SweepRuns.supersede`, a convenience: a failure (a store still locked) is a
        note of the report, never the end of the sweep's other variants."""
        try:
            self.runs.supersede(name, params_hash, run_id)
        except Exception as exc:
            self._note(f"{name}: its earlier run was not marked superseded", exc)

    def _note(self, what: str, exc: Exception) -> None:
        """A report note: ``what`` went wrong, with the error's type and first line."""
        self.report.notes.append(f"{what} ({type(exc).__name__}: {first_line(exc)[:200]})")

    def finish(self) -> None:
        from workbench.experiments.mlflow_ui import publish_model_table

        if self.owns_executor:
            self.executor.close()
        self.runs.finish(self.ran, len(self.report.failed))
        try:  # a convenience: it must neither hide the sweep's own error nor fail the sweep
            publish_model_table(self.runs.client, self.runs.experiment_id, self.spec.name,
                                self.runs.parent_id)
        except Exception as exc:  # the artifact store, matplotlib, ...
            self._note("the model table was not logged to the parent run", exc)


def _study_report(variant: Variant, study, status: str) -> tuple[Outcome, dict[str, Any]]:
    """A study's outcome line (best value and parameters) and its summary
    (:func:`~workbench.experiments.tuning.summary`, the best parameters decoded)."""
    info = tuning.summary(study)
    if "best_params" in info:
        info["best_params"] = tuning.decode_params(variant.search, info["best_params"])
    best = info.get("best_value")
    text = (f"study: {info['trials_complete']} trials, best {variant.search.objective} "
            f"{best:.4f} with {json.dumps(info['best_params'])}" if best is not None
            else "study: no finished trial")
    return Outcome(f"{variant.name} (study)", status, error="" if best is not None else text,
                   value=best, output=text), info


def _finished_study(spec: SweepSpec, variant: Variant, settings: Settings) -> Outcome | None:
    """The SKIPPED outcome of a study whose trials have all finished; None when some are
    left (or there is no study yet)."""
    try:
        study = tuning.load_study(tuning.study_name(spec.experiment, variant.name,
                                                    variant.params_hash), settings.optuna_uri)
    except WorkbenchError:
        return None
    if len(tuning.completed(study)) < variant.search.trials:
        return None
    return _study_report(variant, study, "SKIPPED")[0]


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
