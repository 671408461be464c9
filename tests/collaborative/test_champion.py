"""The champion (workbench.collaborative.champion): promotion on validation only, the local
copy that follows the registry's alias, and its repair from the registry."""

from __future__ import annotations

import json
import shutil

import mlflow
import pytest

from workbench import tracking
from workbench.collaborative.champion import promote, sync_champion
from workbench.settings import Settings


@pytest.fixture
def home(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")


def _model_folder(tmp_path, name: str):
    """A real (popularity) model saved in ``tmp_path/name``, its folder named ``name``."""
    from workbench.collaborative import make_config, train
    from workbench.data.toy import make_toy

    tables = make_toy()
    folder = tmp_path / name
    train(make_config(dataset="toy", model="popularity"), tables.interactions,
          tables.items["item_id"].to_numpy()).save(folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["history"] = {"name": [0.0]}  # tells the copies apart
    (folder / "config.json").write_text(json.dumps({**meta, "name": name}))
    return folder


def test_the_champion_moves_on_validation_never_on_test(home, tmp_path) -> None:
    """A version with a better test score but a worse validation score does not take the
    champion alias; the local copy follows the alias."""
    def register(name: str, val: float, test: float) -> bool:
        folder = _model_folder(tmp_path, name)
        with tracking.start_run("test-promote", settings=home) as run:
            artifact = tracking.log_model_folder(folder)
        return promote("toy", artifact, run.info.run_id, folder,
                       {"val_full_ndcg_at_10": val, "test_full_ndcg_at_10": test},
                       settings=home)

    assert register("first", val=0.30, test=0.10)
    assert not register("second", val=0.20, test=0.90)  # better on test: ignored
    local = home.champion_dir("toy")
    assert json.loads((local / "config.json").read_text())["name"] == "first"
    assert register("third", val=0.40, test=0.05)
    info = json.loads((local / "champion.json").read_text())
    assert info["model"] == "popularity" and info["version"] == "3"
    assert json.loads((local / "config.json").read_text())["name"] == "third"
    assert info["selected_by"] == "val_full_ndcg_at_10"
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias("toy-collaborative", "champion")
    assert str(champion.version) == "3" and champion.tags["test_full_ndcg_at_10"] == "0.05"

    assert "already in" in sync_champion("toy", home)
    shutil.rmtree(local)
    assert "v3 copied to" in sync_champion("toy", home)
    assert json.loads((local / "config.json").read_text())["name"] == "third"
    (local / "weights.npz").write_bytes(b"truncated")  # a damaged copy is replaced
    assert "v3 copied to" in sync_champion("toy", home)
    assert "already in" in sync_champion("toy", home)
    assert sync_champion("anime", home) == "no champion registered for anime"


def test_a_registered_champion_whose_files_are_gone_is_named(home, tmp_path) -> None:
    """The registry names a version whose artifacts were deleted: one line that says so (not
    "no champion"), and the local copy is left as it was."""
    import pytest

    from workbench.collaborative import CollaborativeError

    folder = _model_folder(tmp_path, "only")
    with tracking.start_run("test-promote", settings=home) as run:
        artifact = tracking.log_model_folder(folder)
    assert promote("toy", artifact, run.info.run_id, folder, {"val_full_ndcg_at_10": 0.3},
                   settings=home)
    shutil.rmtree(home.artifacts_dir)
    shutil.rmtree(home.champion_dir("toy"))
    with pytest.raises(CollaborativeError, match=r"champion toy-collaborative v1 is registered"
                                                 r" .* files could not be read"):
        sync_champion("toy", home)
    assert not home.champion_dir("toy").exists()
