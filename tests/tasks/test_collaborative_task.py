"""The training task's pieces: layered hyperparameters (tuned files), champion promotion on
validation only, the local champion copy, and the significance table."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from workbench import tracking
from workbench.collaborative import CollaborativeError
from workbench.settings import Settings
from workbench.tasks.collaborative import TrainTask, resolve_config, tuned_params


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
    local = home.champion_dir("toy")
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
