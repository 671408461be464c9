"""The training task's pieces: layered hyperparameters (tuned files) and the hybrid variant's
identity (the champion it will load)."""

from __future__ import annotations

import pytest

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


def test_a_rerun_by_hand_leaves_models_and_the_registry_alone(toy_home, tmp_path) -> None:
    """Notebook 03's defaults (a rerun by hand) log the run and its model to MLflow only:
    nothing under models/, no registered version, the champion unmoved; the artifacts follow
    the tracking URI (a store elsewhere keeps them beside it, not in the home). Asked
    explicitly (the pipeline's default sweeps), the model is saved and registered."""
    import mlflow

    from workbench import tracking
    from workbench.tasks.collaborative import train_collaborative

    store = tmp_path / "elsewhere"
    store.mkdir()
    home = toy_home("rerun", champion="ease", mlflow_uri=f"sqlite:///{store / 'mlflow.db'}")
    champion = (home.champion_dir("toy") / "champion.json").read_text()
    models_before = sorted(p.relative_to(home.models_dir) for p in home.models_dir.rglob("*"))
    result = train_collaborative(TrainTask(dataset="toy", model="itemknn"), home, log=print)
    assert sorted(p.relative_to(home.models_dir) for p in home.models_dir.rglob("*")) == \
        models_before
    assert result.model_folder is None and not result.champion
    tracking.configure(home)
    assert mlflow.MlflowClient().search_registered_models() == []
    assert (home.champion_dir("toy") / "champion.json").read_text() == champion
    assert list((store / "mlartifacts" / "collaborative").rglob("model/config.json"))
    assert not home.artifacts_dir.is_relative_to(home.experiments_dir)
    assert not (home.experiments_dir / "mlartifacts").exists()

    asked = train_collaborative(TrainTask(dataset="toy", model="itemknn", save_model=True,
                                          register_model=True), home, log=print)
    assert asked.model_folder == home.model_dir("toy", "itemknn-implicit")
    assert (asked.model_folder / "config.json").is_file()
    versions = mlflow.MlflowClient().search_model_versions("name = 'toy-collaborative'")
    assert len(versions) == 1
