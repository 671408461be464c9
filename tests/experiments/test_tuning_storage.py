"""Tuning studies in a shared database (workbench.experiments.tuning on PostgreSQL, the
tracking server's ``optuna`` database): a storage that does not answer is refused in one line
before any run is opened; a study is run by one driver at a time across machines (an advisory
lock in the database, beside the one-machine lock file)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import free_port
from tests.helpers.sweeps import write_sweep
from workbench import WorkbenchError
from workbench.cli import app
from workbench.experiments import tuning

runner = CliRunner()
STUDY = """
experiment: toy-tune-storage
notebook: 03_train_collaborative
parameters: {dataset: toy, model: itemknn, trial: true, tuned: false}
search: {trials: 2}
variants:
  - name: knn
    search: {space: {params.neighbours: {int: [2, 20]}}}
"""


def test_a_bare_postgresql_uri_names_the_installed_driver() -> None:
    assert tuning.storage_url("postgresql://u@db:5432/optuna") == \
        "postgresql+psycopg2://u@db:5432/optuna"
    assert tuning.storage_url("sqlite:///x.db") == "sqlite:///x.db"
    tuning.check_storage("sqlite:////nonexistent/folder/optuna.db")  # created on use


@pytest.mark.parametrize("extra", [[], ["--ray", "local"]])
def test_an_unreachable_study_storage_is_one_line_before_any_run(workbench_env, tmp_path,
                                                                 monkeypatch, extra) -> None:
    from workbench.settings import get_settings

    uri = f"postgresql://workbench:secret@127.0.0.1:{free_port()}/optuna"
    monkeypatch.setenv("WORKBENCH_OPTUNA_URI", uri)
    get_settings.cache_clear()
    result = runner.invoke(app, ["experiments", "run", str(write_sweep(tmp_path, STUDY)),
                                 *extra])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: the Optuna storage postgresql+psycopg2://workbench:***@")
    assert "make tracking-server" in lines[0] and "secret" not in lines[0]
    assert not (workbench_env.experiments_dir / "mlflow.db").exists()  # no run opened
    import sys

    assert "ray" not in sys.modules or not __import__("ray").is_initialized()


@pytest.fixture(scope="module")
def optuna_db() -> str:
    """The ``optuna`` database of a PostgreSQL cluster started as the tracking server starts
    it; its URI."""
    if shutil.which("initdb") is None or shutil.which("postgres") is None:
        pytest.skip("PostgreSQL (initdb, postgres) is not on PATH")
    from workbench.tracking_server import optuna_uri, postgres

    # outside pytest's own temp folder (private to this user): the postgres user, whom
    # PostgreSQL runs as when the tests run as root, must reach it
    folder = Path(tempfile.mkdtemp(prefix="wbpg-", dir="/tmp"))
    folder.chmod(0o755)
    port = free_port()
    try:
        with postgres(folder / "data", port, folder / "postgres.log"):
            yield optuna_uri(port)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.integration
def test_one_driver_at_a_time_runs_a_study_across_machines(optuna_db, tmp_path) -> None:
    tuning.check_storage(optuna_db)
    search = tuning.SearchSpec(trials=2, space={"x": {"int": [1, 5]}})
    study = tuning.open_study("e/v/hash", search, optuna_db)
    study.tell(study.ask(), 1.0)
    assert len(tuning.completed(tuning.load_study("e/v/hash", optuna_db))) == 1
    # two machines: each its own lock file, one database
    with tuning.study_lock("e/v/hash", tmp_path / "one", optuna_db):
        with (pytest.raises(WorkbenchError, match="being run by another driver"),
              tuning.study_lock("e/v/hash", tmp_path / "two", optuna_db)):
            pass
        with tuning.study_lock("e/v/other", tmp_path / "two", optuna_db):
            pass  # another study is free
    with tuning.study_lock("e/v/hash", tmp_path / "two", optuna_db):
        pass  # released with the block


@pytest.mark.parametrize("backend", [None, "postgresql://mlflow:secret@db:5432/mlflow"])
def test_the_tracking_server_prints_the_exports(workbench_env, monkeypatch, backend) -> None:
    """Both exports when it runs PostgreSQL itself; with a database of the user's, only
    MLflow's (the studies' database is then theirs to make)."""
    import contextlib
    import signal
    import time

    from workbench import tracking_server

    @contextlib.contextmanager
    def serve(port, pg_port, *args):
        yield f"http://127.0.0.1:{port}"

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(tracking_server, "tracking_server", serve)
    monkeypatch.setattr(time, "sleep", interrupted)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # keep pytest's SIGTERM
    extra = ["--backend-store-uri", backend] if backend else []
    result = runner.invoke(app, ["tracking-server", "--port", "5001", "--pg-port", "5434",
                                 *extra])
    assert result.exit_code == 0, result.output
    assert "  export WORKBENCH_MLFLOW_URI=http://127.0.0.1:5001\n" in result.output
    optuna = "  export WORKBENCH_OPTUNA_URI=postgresql+psycopg2://workbench@127.0.0.1:5434/optuna"
    assert (optuna in result.output) == (backend is None), result.output
