"""The training task's pieces: layered hyperparameters (tuned files), champion promotion on
validation only, the local champion copy, and the significance table."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from workbench import tracking
from workbench.collaborative import CollaborativeError
from workbench.settings import Settings
from workbench.tasks.collaborative import (
    TrainTask,
    champion_dir,
    promote,
    resolve_config,
    sync_champion,
    tuned_params,
)


@pytest.fixture
def home(tmp_path) -> Settings:
    settings = Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")
    (settings.experiments_dir / "tuned").mkdir(parents=True)
    return settings


def test_hyperparameters_layer_defaults_tuned_file_and_params(home) -> None:
    path = home.experiments_dir / "tuned" / "toy.yaml"
    assert tuned_params("toy", "ease", home) == ({}, None)
    path.write_text("ease: {l2: 42}\nitemknn: {neighbours: 7}\n")
    assert tuned_params("toy", "ease", home) == ({"l2": 42}, path)
    config = resolve_config(TrainTask(dataset="toy", model="ease"), home)
    assert config.params == {"l2": 42.0, "weighting": "binary"}
    config = resolve_config(TrainTask(dataset="toy", model="ease", params={"l2": 7}), home)
    assert config.params["l2"] == 7.0  # params win over the tuned file
    config = resolve_config(TrainTask(dataset="toy", model="ease", tuned=False), home)
    assert config.params["l2"] == 200.0  # the model's declared default
    path.write_text("ease: {l2: -5}\n")
    with pytest.raises(CollaborativeError, match=r"toy.yaml: .*params\.l2: Input should be"):
        resolve_config(TrainTask(dataset="toy", model="ease"), home)
    path.write_text("eas: {l2: 5}\n")
    with pytest.raises(CollaborativeError, match=r"names unknown model\(s\) \['eas'\]"):
        tuned_params("toy", "ease", home)
    path.write_text("ease: [unclosed\n")
    with pytest.raises(CollaborativeError, match="not valid YAML"):
        tuned_params("toy", "ease", home)


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
    local = champion_dir("toy", home)
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
    import shutil

    shutil.rmtree(local)
    assert "v3 copied to" in sync_champion("toy", home)
    assert json.loads((local / "config.json").read_text())["name"] == "third"
    (local / "weights.npz").write_bytes(b"truncated")  # a damaged copy is replaced
    assert "v3 copied to" in sync_champion("toy", home)
    assert "already in" in sync_champion("toy", home)
    assert sync_champion("anime", home) == "no champion registered for anime"


def test_significance_table_pairs_users_and_marks_the_best(home) -> None:
    """Model a beats b on most of 60 users; c equals a: p(b) small, p(c) = 1."""
    from workbench.experiments import results_table

    rng = np.random.default_rng(0)
    users = np.arange(60)
    base = rng.random(60)
    per_model = {"a": base, "b": np.clip(base - 0.3 * rng.random(60), 0, 1), "c": base}
    for model, values in per_model.items():
        for seed in (1, 2):
            with tracking.start_run("test-significance", params={"dataset": "toy",
                                                                 "model": model, "seed": seed},
                                    settings=home):
                tracking.log_metrics({"test_full_ndcg_at_10": float(values.mean()),
                                      "test_full_recall_at_10": 0.5})
                mlflow.log_text(pd.DataFrame({"user_id": users, "ndcg_at_10": values})
                                .to_csv(index=False), "test_per_user.csv")
    table = results_table("test-significance", ("dataset", "model"), settings=home)
    table = table.set_index("model")
    assert table.loc["a", "n"] == 2
    assert table.loc["a", "p_vs_best"] == "best"  # a and c tie: the first is the best
    assert float(table.loc["b", "p_vs_best"]) < 1e-6
    assert table.loc["c", "p_vs_best"] == "1.0"
    assert table.loc["a", "test_full_ndcg_at_10"] == f"{base.mean():.4f} ± 0.0000"


def test_a_rerun_variant_replaces_its_earlier_run_in_the_table(home) -> None:
    """A sweep variant run again with tuned values is one seed, not two: the table keeps
    each variant's latest run (runs outside sweeps all count)."""
    from workbench.experiments import results_table
    from workbench.experiments.sweeps import TAG_SWEEP, TAG_VARIANT

    for seed, value in ((1, 0.1), (2, 0.2), (1, 0.3)):  # seed 1 rerun with tuned values
        tags = {TAG_SWEEP: "zoo", TAG_VARIANT: f"keras.seed={seed},model=neumf"}
        with tracking.start_run("test-rerun", params={"dataset": "toy", "model": "neumf",
                                                      "seed": seed}, tags=tags, settings=home):
            tracking.log_metrics({"test_full_ndcg_at_10": value})
    with tracking.start_run("test-rerun", params={"dataset": "toy", "model": "neumf"},
                            settings=home):  # by hand, outside a sweep
        tracking.log_metrics({"test_full_ndcg_at_10": 0.4})
    table = results_table("test-rerun", ("dataset", "model"), settings=home,
                          significance=None)
    assert table.loc[0, "n"] == 3
    assert table.loc[0, "test_full_ndcg_at_10"].startswith("0.3000")  # (0.2 + 0.3 + 0.4) / 3


def test_mixed_objectives_are_refused_in_one_table(home) -> None:
    from workbench import WorkbenchError
    from workbench.experiments import results_table

    for objective in ("implicit", "explicit"):
        with tracking.start_run("test-mixed", params={"dataset": "toy", "model": "mf",
                                                      "objective": objective}, settings=home):
            tracking.log_metrics({"test_full_ndcg_at_10": 0.1})
    with pytest.raises(WorkbenchError, match=r"mix values of 'objective'.*--group-by"):
        results_table("test-mixed", ("dataset", "model"), settings=home)
    table = results_table("test-mixed", ("dataset", "model", "objective"), settings=home)
    assert len(table) == 2


def test_a_study_runs_in_one_process_at_a_time(home) -> None:
    from workbench import WorkbenchError
    from workbench.experiments.search import study_lock

    with study_lock("x/y/z", home.experiments_dir):
        with (pytest.raises(WorkbenchError, match="being run by another process"),
              study_lock("x/y/z", home.experiments_dir)):
            pass
        with study_lock("x/y/other", home.experiments_dir):
            pass  # another study is free


def test_the_hybrid_variant_identity_follows_the_champion(home) -> None:
    from workbench.tasks.hybrid import check_parameters

    before = check_parameters({"dataset": "toy"}, home)
    assert before["collaborative_identity"] == "champion vNone run None"
    local = champion_dir("toy", home)
    local.mkdir(parents=True)
    (local / "champion.json").write_text('{"version": "4", "run_id": "abc"}')
    after = check_parameters({"dataset": "toy"}, home)
    assert after["collaborative_identity"] == "champion v4 run abc"
    with pytest.raises(CollaborativeError, match="alphas"):
        check_parameters({"dataset": "toy", "alphas": "all"}, home)


def test_a_dead_worker_is_a_failed_variant_not_a_crash() -> None:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from workbench.experiments.sweeps import _result

    future = Future()
    future.set_exception(BrokenProcessPool("killed"))
    status, _, error = _result(future)
    assert status == "FAILED" and "worker process running it died" in error
