from pathlib import Path

from workbench.settings import Settings


def test_paths_derive_from_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    assert s.data_dir == tmp_path.resolve() / "data"
    assert s.models_dir == tmp_path.resolve() / "models"
    assert s.experiments_dir == tmp_path.resolve() / "experiments"
    assert s.raw_dir("movies") == s.data_dir / "raw" / "movies"
    assert s.processed_dir("anime") == s.data_dir / "processed" / "anime"
    assert s.mlflow_uri == f"sqlite:///{s.experiments_dir / 'mlflow.db'}"


def test_environment_overrides(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WORKBENCH_MLFLOW_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(tmp_path / "mirror"))
    s = Settings()
    assert s.home == tmp_path.resolve()
    assert s.data_dir == (tmp_path / "elsewhere").resolve()
    assert s.models_dir == tmp_path.resolve() / "models"
    assert s.mlflow_uri == "http://127.0.0.1:5000"
    assert s.data_mirror == (tmp_path / "mirror").resolve()


def test_default_mirror_is_shared_beside_home(tmp_path: Path) -> None:
    home = tmp_path / "checkout"
    home.mkdir()
    assert Settings(home=home).data_mirror is None
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert Settings(home=home).data_mirror == (tmp_path / "shared" / "data").resolve()
