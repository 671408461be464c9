"""The MLflow side of sweeps (workbench.experiments.bookkeeping): runs a killed sweep left
RUNNING are marked KILLED."""

from __future__ import annotations

import os
import sys

import mlflow
import pytest
from typer.testing import CliRunner

from workbench import tracking
from workbench.experiments.bookkeeping import TAG_PARENT

runner = CliRunner()


@pytest.mark.reliability
def test_runs_left_running_by_a_killed_sweep_are_marked_killed(workbench_env) -> None:
    """A parent (and its child) whose sweep process is gone are KILLED at the next sweep's
    start; a live sweep's runs and a run of another host are left alone."""
    import socket
    import subprocess

    from workbench.experiments.bookkeeping import TAG_RUNNER, TAG_SWEEP_PARENT, mark_orphaned_runs

    experiment = tracking.set_experiment("orphans", workbench_env)
    client = mlflow.MlflowClient(workbench_env.mlflow_uri)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    host = socket.gethostname()

    def parent(runner: str) -> str:
        return client.create_run(experiment, tags={TAG_SWEEP_PARENT: "true",
                                                   TAG_RUNNER: runner}).info.run_id

    dead, alive, remote = parent(f"{host}:{gone.pid}"), parent(f"{host}:{os.getpid()}"), \
        parent("elsewhere:1")
    child = client.create_run(experiment, tags={TAG_PARENT: dead}).info.run_id
    live_child = client.create_run(experiment, tags={TAG_PARENT: alive}).info.run_id
    assert mark_orphaned_runs(client, experiment) == 2
    status = {r: client.get_run(r).info.status for r in (dead, child, alive, live_child, remote)}
    assert status == {dead: "KILLED", child: "KILLED", alive: "RUNNING",
                      live_child: "RUNNING", remote: "RUNNING"}


def test_a_forced_rerun_supersedes_the_variants_earlier_run(workbench_env) -> None:
    """Once a variant's rerun finished, its earlier FINISHED run (same sweep, name and hash)
    is tagged with the rerun's id and soft-deleted (restorable); one that a registered model
    version came from keeps only the tag; a trial of the same hash, another variant, the
    same variant of another sweep in the same experiment and an unfinished run are left
    alone."""
    from mlflow.entities import ViewType

    from workbench.experiments.bookkeeping import TAG_SUPERSEDED, SweepRuns

    experiment = tracking.set_experiment("forced", workbench_env)
    client = mlflow.MlflowClient(workbench_env.mlflow_uri)
    runs, other_sweep = SweepRuns(client, experiment, "forced"), SweepRuns(client, experiment,
                                                                            "forced_gpu")

    def child(name: str, params_hash: str = "h1", status: str = "FINISHED",
              sweep: SweepRuns = runs) -> str:
        run_id = client.create_run(experiment, tags=sweep.child_tags(name, params_hash, name)
                                   ).info.run_id
        if status != "RUNNING":
            client.set_terminated(run_id, status)
        return run_id

    old, trial, other = child("a"), child("a/trial-000"), child("b", "h2")
    failed, elsewhere = child("a", status="FAILED"), child("a", sweep=other_sweep)
    champion = child("a")
    client.create_registered_model("forced-model")
    client.create_model_version("forced-model", f"runs:/{champion}/model", run_id=champion)
    new = child("a")
    assert runs.supersede("a", "h1", new) == 1
    deleted = client.get_run(old)
    assert deleted.info.lifecycle_stage == "deleted"
    assert deleted.data.tags[TAG_SUPERSEDED] == new
    registered = client.get_run(champion)  # gc would remove a registered version's files
    assert registered.info.lifecycle_stage == "active"
    assert registered.data.tags[TAG_SUPERSEDED] == new
    for kept in (new, trial, other, failed, elsewhere):
        assert client.get_run(kept).info.lifecycle_stage == "active"
        assert TAG_SUPERSEDED not in client.get_run(kept).data.tags
    active = {r.info.run_id for r in client.search_runs([experiment], max_results=100)}
    assert old not in active and new in active
    everything = client.search_runs([experiment], run_view_type=ViewType.ALL, max_results=100)
    assert old in {r.info.run_id for r in everything}  # nothing is removed
    client.restore_run(old)
    assert client.get_run(old).info.lifecycle_stage == "active"
    assert runs.supersede("a", "h1", new) == 1  # again on what is active
