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
