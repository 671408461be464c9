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


def test_to_env_round_trips_every_field(tmp_path: Path, monkeypatch) -> None:
    """What a sweep passes to its kernels rebuilds the same settings there, every field
    included (a field added later and forgotten would differ from its default here)."""
    import json
    import os

    for name in [v for v in os.environ if v.startswith("WORKBENCH_")]:
        monkeypatch.delenv(name)
    values = {"home": tmp_path / "h", "data_dir": tmp_path / "d", "models_dir": tmp_path / "m",
              "experiments_dir": tmp_path / "e", "datasets_dir": tmp_path / "ds",
              "encoder_cache": tmp_path / "onnx", "data_mirror": tmp_path / "mirror",
              "mlflow_uri": "http://127.0.0.1:5999", "optuna_uri": "sqlite:///x.db",
              "download_timeout_s": 7.5, "seed": 3, "tmdb_url": "http://127.0.0.1:1/3",
              "jikan_url": "http://127.0.0.1:2/v4", "provider_timeout_s": 2.0,
              "provider_retries": 9, "provider_min_interval_s": 0.5, "self_heal": True,
              "dashboard_datasets": ["toy", "movies"], "progress_file": tmp_path / "p.txt",
              "run_tags": {"workbench.sweep": "s"}, "memory_budget_gb": 3.5,
              "ray_address": "10.0.0.1:6379"}
    assert set(values) == set(Settings.model_fields), "a new field: give it a value here"
    original = Settings(**values)
    assert all(original.model_dump()[k] != v for k, v in Settings(home=tmp_path).model_dump()
               .items() if k not in ("home",)), "each value must differ from its default"
    env = original.to_env()
    assert env["WORKBENCH_RUN_TAGS"] == json.dumps({"workbench.sweep": "s"})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_the_layout_is_named_once(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    m = s.models_dir
    assert s.index_file("anime") == m / "anime" / "content" / "index.npz"
    assert s.champion_dir("anime") == m / "anime" / "collaborative" / "champion"
    assert s.model_dir("anime", "ease-implicit") == m / "anime" / "collaborative" / "ease-implicit"
    assert s.patches_file("anime") == s.data_dir / "patches" / "anime.json"
    assert s.spec_file("books") == s.datasets_dir / "books.yaml"
    assert s.runs_dir == s.experiments_dir / "runs"
    assert s.cache_dir == m / "cache" and s.http_cache_dir == m / "cache" / "http"


def test_a_users_own_experiment_file_wins_over_the_shipped_one(tmp_path: Path) -> None:
    from workbench.settings import CHECKOUT

    s = Settings(home=tmp_path)
    shipped = CHECKOUT / "experiments" / "tuned" / "movies.yaml"
    assert s.in_effect(s.tuned_file("movies")) == shipped
    own = s.tuned_file("movies")
    own.parent.mkdir(parents=True)
    own.write_text("ease: {l2: 1}\n")
    assert s.in_effect(own) == own
