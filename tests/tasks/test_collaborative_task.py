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
