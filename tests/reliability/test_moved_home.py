"""A home copied or moved elsewhere keeps working: MLflow reads the old runs' artifacts and
logs new ones inside the copy, never into the old checkout (issue 15, case 9)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow

from workbench import tracking
from workbench.settings import Settings


def _log(settings: Settings, text: str) -> str:
    with tracking.start_run("portable", settings=settings) as run:
        mlflow.log_text(text, "note.txt")
    return run.info.run_id


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("note.txt")}


def test_a_copied_home_logs_and_reads_its_own_artifacts(tmp_path) -> None:
    old = Settings(home=tmp_path / "old")
    first = _log(old, "first")
    client = mlflow.MlflowClient(old.mlflow_uri)
    client.create_registered_model("portable-model")
    version = client.create_model_version(
        "portable-model", f"{client.get_run(first).info.artifact_uri}/note.txt", first)
    shutil.copytree(tmp_path / "old", tmp_path / "new")
    old_files = _files(old.experiments_dir)

    new = Settings(home=tmp_path / "new")
    tracking.configure(new)
    second = _log(new, "second")
    client = mlflow.MlflowClient(new.mlflow_uri)
    assert _files(old.experiments_dir) == old_files  # nothing written into the old home
    for run_id in (first, second):
        uri = client.get_run(run_id).info.artifact_uri
        assert uri.startswith(new.experiments_dir.as_uri() + "/"), uri
    stored = client.get_model_version("portable-model", version.version)
    assert stored.source.startswith(new.experiments_dir.as_uri() + "/")

    shutil.rmtree(tmp_path / "old")  # moved, not copied: the old run still reads
    assert mlflow.artifacts.load_text(
        f"{client.get_run(first).info.artifact_uri}/note.txt") == "first"


def test_a_store_outside_the_home_is_left_alone(tmp_path) -> None:
    """A store named by WORKBENCH_MLFLOW_URI is shared on purpose: its locations stay."""
    shared = tmp_path / "shared.db"
    one = Settings(home=tmp_path / "one", mlflow_uri=f"sqlite:///{shared}")
    run_id = _log(one, "kept")
    before = mlflow.MlflowClient(one.mlflow_uri).get_run(run_id).info.artifact_uri
    assert before.startswith((tmp_path / "mlartifacts").as_uri() + "/")  # beside the store
    two = Settings(home=tmp_path / "two", mlflow_uri=f"sqlite:///{shared}")
    assert tracking.relocate_artifacts(two) == 0
    assert mlflow.MlflowClient(two.mlflow_uri).get_run(run_id).info.artifact_uri == before
