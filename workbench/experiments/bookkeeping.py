"""The MLflow side of a sweep: its tags, the parent run of each invocation with one child
run per variant, skipping finished work, and cleaning up after killed sweeps.

- **Resume**: a variant is skipped when its experiment already holds a FINISHED run with the
  same parameter hash (:func:`finished_hashes`; the hash is the variant's identity:
  :attr:`workbench.experiments.spec.Variant.params_hash`).
- **Failure**: a failing variant's run is marked FAILED with the failing cell's error in the
  ``workbench.error`` tag and the executed notebook attached (:meth:`SweepRuns.record`); a
  notebook that failed before opening a run gets one.
- **Retried jobs**: a job an executor reran (a Ray task whose node was lost) may have left
  a RUNNING run of the lost attempt beside the rerun's: :meth:`SweepRuns.record` keeps the
  rerun's and marks the lost ones KILLED.
- **Killed sweeps**: the parent run records which process runs it (``workbench.runner``,
  ``host:pid``); a sweep starting in an experiment marks KILLED every RUNNING run there whose
  sweep process is gone (kill -9, a closed terminal; :func:`mark_orphaned_runs`), so nothing
  stays RUNNING forever; runs of a sweep still running are left alone. Ctrl-C marks this
  invocation's runs KILLED (:meth:`SweepRuns.interrupted`).
- **Forced reruns**: once a variant run again with ``--force`` finishes, its earlier run of
  the same parameters is superseded: tagged and soft-deleted, one row per variant in the UI
  (:meth:`SweepRuns.supersede`; restorable; a run a registered model version came from keeps
  only the tag).

All of it happens in the sweep's own process, one call at a time: MLflow's SQLite store waits
on locks (``busy_timeout``) while the notebooks' kernels log their own runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from workbench.tracking import TAG_RUNNER
from workbench.tracking import runner_alive as _alive
from workbench.tracking import runner_id as _runner_id

TAG_SWEEP = "workbench.sweep"
TAG_VARIANT = "workbench.variant"
TAG_HASH = "workbench.params_hash"
TAG_UID = "workbench.variant_uid"
TAG_ERROR = "workbench.error"
TAG_PARENT = "mlflow.parentRunId"
TAG_SWEEP_PARENT = "workbench.sweep_parent"
TAG_NODE = "workbench.node_id"
"""The Ray node a variant ran on (:mod:`workbench.experiments.ray_executor`)."""
TAG_SUPERSEDED = "workbench.superseded_by"
"""On a variant's earlier run once a rerun (``--force``) finished: the rerun's id."""


def finished_hashes(client, experiment_id: str) -> dict[str, str]:
    """params hash -> run id of the FINISHED runs of the experiment."""
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                              max_results=5000)
    return {r.data.tags[TAG_HASH]: r.info.run_id for r in runs if TAG_HASH in r.data.tags}


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


class SweepRuns:
    """The MLflow runs of one sweep invocation: its parent run (created here, named by when it
    ran, so reruns are told apart in the UI) and a child run per variant or trial."""

    def __init__(self, client, experiment_id: str, sweep: str) -> None:
        self.client, self.experiment_id, self.sweep = client, experiment_id, sweep
        self.orphans_killed = mark_orphaned_runs(client, experiment_id)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        parent = client.create_run(experiment_id, run_name=f"sweep {sweep} {stamp}",
                                   tags={TAG_SWEEP: sweep, TAG_SWEEP_PARENT: "true",
                                         TAG_RUNNER: _runner_id()})
        self.parent_id = parent.info.run_id

    def child_tags(self, name: str, params_hash: str, uid: str,
                   extra: dict[str, str] | None = None) -> dict[str, str]:
        """The tags a variant's notebook gives the run it opens (``uid`` finds it again)."""
        return {TAG_PARENT: self.parent_id, TAG_SWEEP: self.sweep, TAG_VARIANT: name,
                TAG_HASH: params_hash, TAG_UID: uid, **(extra or {})}

    def log_stage(self, stage: int, names: list[str]) -> None:
        """Name the variants a stage runs on the parent run."""
        import json

        self.client.log_param(self.parent_id, f"variants_stage_{stage}",
                              json.dumps(names)[:6000])

    def record(self, name: str, params_hash: str, parameters: dict[str, Any], uid: str,
               status: str, error: str, output: str, node: str = "") -> str:
        """Attach the executed notebook to the variant's run (creating a run when the
        notebook failed before opening one, or tracks nothing) and record a failure, and the
        ``node`` it ran on when known; the run id."""
        client = self.client
        runs = client.search_runs([self.experiment_id],
                                  filter_string=f"tags.`{TAG_UID}` = '{uid}'",
                                  order_by=["attributes.start_time DESC"])
        if runs:
            run_id = self._kept_attempt(runs, status)
        else:
            run = client.create_run(self.experiment_id, run_name=f"{self.sweep}/{name}",
                                    tags=self.child_tags(name, params_hash, uid))
            run_id = run.info.run_id
            for key, value in parameters.items():
                client.log_param(run_id, key, value)
            if status == "FINISHED":  # a notebook that tracks nothing (e.g. track=False)
                client.set_terminated(run_id, "FINISHED")
        if node:
            client.set_tag(run_id, TAG_NODE, node)
        if Path(output).is_file():
            client.log_artifact(run_id, output, "notebook")
        if status == "FAILED":
            self.mark_failed(run_id, error)
        return run_id

    def _kept_attempt(self, runs: list, status: str) -> str:
        """Of the runs one job opened (newest first; several when its executor retried it),
        the one to keep: the newest FINISHED one when the job finished, else the newest. The
        others still RUNNING were lost with their worker: marked KILLED, naming the kept."""
        finished = [r for r in runs if r.info.status == "FINISHED"]
        kept = (finished[0] if status == "FINISHED" and finished else runs[0]).info.run_id
        for run in runs:
            if run.info.run_id != kept and run.info.status == "RUNNING":
                self.note_error(run.info.run_id, f"this attempt was lost with its worker or "
                                                 f"node; the job was run again as {kept}")
                self.client.set_terminated(run.info.run_id, "KILLED")
        return kept

    def supersede(self, name: str, params_hash: str, run_id: str) -> int:
        """Variant ``name`` of this sweep FINISHED as ``run_id`` (a ``--force`` rerun, or a
        duplicate of concurrent invocations): its earlier FINISHED runs (same sweep, name and
        hash) are tagged :data:`TAG_SUPERSEDED`, and moved to MLflow's deleted runs so the UI
        lists one row per variant, unless a registered model version was logged from one
        (the champion's source: ``mlflow gc`` would remove its files), which keeps only the
        tag. Nothing is removed: the UI's "Deleted" filter shows them, ``mlflow runs
        restore`` brings one back, only ``mlflow gc`` purges. How many were deleted."""
        runs = self.client.search_runs(
            [self.experiment_id], max_results=5000,
            filter_string=f"tags.`{TAG_HASH}` = '{params_hash}' and "
                          f"tags.`{TAG_SWEEP}` = '{self.sweep}' and "
                          f"attributes.status = 'FINISHED'")
        earlier = [r.info.run_id for r in runs
                   if r.info.run_id != run_id and r.data.tags.get(TAG_VARIANT) == name]
        deleted = 0
        for old in earlier:
            self.client.set_tag(old, TAG_SUPERSEDED, run_id)
            if not self.client.search_model_versions(f"run_id = '{old}'"):
                self.client.delete_run(old)
                deleted += 1
        return deleted

    def note_error(self, run_id: str, error: str) -> None:
        """Put ``error`` in a child run's ``workbench.error`` tag."""
        self.client.set_tag(run_id, TAG_ERROR, error[:4900])

    def mark_failed(self, run_id: str, error: str) -> None:
        """Mark a child run FAILED with ``error`` in its ``workbench.error`` tag."""
        self.note_error(run_id, error)
        self.client.set_terminated(run_id, "FAILED")

    def log_study(self, key: str, best: float, best_params: dict[str, Any], summary: str,
                  figure) -> None:
        """A finished study's best value and parameters, its summary and figure, on the
        parent run (``key``: the variant's name in MLflow's allowed characters)."""
        self.client.log_metric(self.parent_id, f"{key}.best_value"[:250], best)
        for name, value in best_params.items():
            self.client.log_param(self.parent_id, f"{key}.best.{name}"[:250], value)
        self.client.log_text(self.parent_id, summary, f"studies/{key}.json")
        self.client.log_figure(self.parent_id, figure, f"studies/{key}.png")

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

    def finish(self, ran: int, failed: int) -> None:
        """Close the parent run: FAILED when a variant failed."""
        self.client.log_metric(self.parent_id, "variants_run", ran)
        self.client.log_metric(self.parent_id, "variants_failed", failed)
        self.client.set_terminated(self.parent_id, "FAILED" if failed else "FINISHED")
