"""Sweeps on Ray (workbench.experiments.ray_executor) and a shared tracking server
(workbench.tracking_server): the refusals, one line each, before anything is written; Ray
stays out of the CLI's cold start; a retried job's lost attempt is marked KILLED. The
two-node cluster itself: test_ray_cluster.py."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest
from typer.testing import CliRunner

from tests.helpers import REPO, free_port
from tests.helpers.sweeps import write_sweep
from workbench import tracking
from workbench.cli import app
from workbench.experiments.ray_executor import RayUnavailable, parse_address

runner = CliRunner()
SWEEP = ("experiment: cluster-errors\nnotebook: 01_data_overview\nparameters: {dataset: toy}\n"
         "variants: [{name: one}]\n")


def test_the_cli_cold_start_does_not_import_ray() -> None:
    code = "import sys, workbench.cli; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)
    assert done.stdout.strip() == "False"


def test_addresses() -> None:
    assert parse_address("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert parse_address("ray://head:10001") == ("head", 10001)
    assert parse_address("local") is None and parse_address("auto") is None
    with pytest.raises(RayUnavailable, match=r"'head' is not a Ray address.*ray start --head"):
        parse_address("head")


@pytest.mark.parametrize("how", ["option", "setting"])
def test_an_unreachable_ray_address_is_one_line_and_writes_nothing(workbench_env, tmp_path,
                                                                   monkeypatch, how) -> None:
    port = free_port()
    path = write_sweep(tmp_path, SWEEP)
    extra = ["--ray", f"127.0.0.1:{port}"] if how == "option" else []
    if how == "setting":
        monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", f"127.0.0.1:{port}")
        from workbench.settings import get_settings

        get_settings.cache_clear()
    result = runner.invoke(app, ["experiments", "run", str(path), *extra])
    line = _one_error_line(result)
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in line
    assert "ray start --head" in line
    assert not (workbench_env.experiments_dir / "mlflow.db").exists()  # nothing half-written
    assert "ray" not in str(result.exception or "")


def _one_error_line(result) -> str:
    """The one line a refused command printed (exit status 1)."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_an_unreachable_tracking_server_is_one_line(workbench_env, tmp_path,
                                                    monkeypatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("WORKBENCH_MLFLOW_URI", url)
    from workbench.settings import get_settings

    get_settings.cache_clear()
    path = write_sweep(tmp_path, SWEEP)
    for extra in ([], ["--ray", "local"]):  # refused before Ray is even started
        line = _one_error_line(runner.invoke(app, ["experiments", "run", str(path), *extra]))
        assert f"the MLflow tracking server {url} does not answer" in line
        assert "make tracking-server" in line
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path) -> None:
    import socket

    from workbench.tracking_server import TrackingServerError, tracking_server

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(TrackingServerError, match=f"port {port} is in use"), \
                tracking_server(port, free_port(), tmp_path / "pg", tmp_path / "a",
                                tmp_path / "logs"):
            pass
    assert not (tmp_path / "pg").exists()


def test_the_driver_is_named_in_a_postgres_uri() -> None:
    from workbench.tracking_server import postgres_uri, with_driver

    assert postgres_uri(5433) == "postgresql+psycopg2://workbench@127.0.0.1:5433/mlflow"
    assert with_driver("postgresql://u:p@db:5432/m") == "postgresql+psycopg2://u:p@db:5432/m"
    assert with_driver("sqlite:///x.db") == "sqlite:///x.db"


def test_a_lost_attempt_of_a_retried_job_is_marked_killed(workbench_env) -> None:
    """A Ray task rerun after its node was lost may leave the lost attempt's run RUNNING
    beside the rerun's: the finished one is kept, the lost one KILLED, naming it."""
    from workbench.experiments.bookkeeping import TAG_ERROR, TAG_NODE, TAG_UID, SweepRuns

    experiment = tracking.set_experiment("retried", workbench_env)
    client = mlflow.MlflowClient(workbench_env.mlflow_uri)
    runs = SweepRuns(client, experiment, "s")
    tags = runs.child_tags("v", "hash", "uid-1")
    lost = client.create_run(experiment, tags=tags, start_time=1000).info.run_id
    rerun = client.create_run(experiment, tags=tags, start_time=2000).info.run_id
    client.set_terminated(rerun, "FINISHED")
    kept = runs.record("v", "hash", {}, "uid-1", "FINISHED", "", "nothing.ipynb", node="n2")
    assert kept == rerun
    assert client.get_run(lost).info.status == "KILLED"
    assert rerun in client.get_run(lost).data.tags[TAG_ERROR]
    assert client.get_run(rerun).data.tags[TAG_NODE] == "n2"
    assert client.get_run(rerun).data.tags[TAG_UID] == "uid-1"


@pytest.mark.integration
def test_ray_local_mode_runs_jobs_and_names_the_node(monkeypatch, tmp_path) -> None:
    """``--ray local``: a throwaway instance here; a failing job is a result, the node is
    named on each, and no auth token is left in HOME (a later ``ray start --head`` would
    turn token auth on with it)."""
    from tests.helpers.sweeps import fake_run
    from workbench.experiments.executor import Job
    from workbench.experiments.ray_executor import RayExecutor

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_MODE", "unset")  # so that the undo removes it again
    monkeypatch.delenv("RAY_AUTH_MODE")

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")

    def job(name: str) -> Job:
        return Job(notebook=name, output=f"/nonexistent/{name}.ipynb", parameters={},
                   tags={"t": name}, env={}, kernel_log="kernels.log")

    with RayExecutor("local", cpus=2, run=fake_run) as executor:
        assert executor.slots == 2
        executor.submit("a", job("ok"))
        executor.submit("b", job("fails"))
        results = dict(executor.next_result() for _ in range(2))
    assert results["a"].status == "FINISHED" and results["b"].status == "FAILED"
    assert results["b"].error == "the notebook failed"
    assert results["a"].node and len(results["a"].node) == 56  # a Ray node id
    import ray

    assert not ray.is_initialized()
    assert not (tmp_path / ".ray" / "auth_token").exists()
    assert os.environ["RAY_AUTH_MODE"] == "disabled"  # monkeypatch restores it
