"""Shared fixtures: isolated settings, caches pointed at a temp dir, the real mirror data.
Helpers that tests import live in :mod:`tests.helpers`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_CACHE = Path(tempfile.mkdtemp(prefix="workbench-test-cache-"))
# Libraries write to ~/.keras, ~/.config/mlflow, matplotlib caches: keep tests off $HOME.
os.environ.update(
    {
        "MPLCONFIGDIR": str(_CACHE / "matplotlib"),
        "KERAS_HOME": str(_CACHE / "keras"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
)
for _var in [v for v in os.environ if v.startswith("WORKBENCH_")]:
    del os.environ[_var]
# Every test home (and every notebook kernel or CLI subprocess they start) shares one int8
# encoder graph, built once per test session instead of once per home.
os.environ["WORKBENCH_ENCODER_CACHE"] = str(_CACHE / "onnx")

from tests.helpers import REPO, require_mirror, shared_mirror  # noqa: E402, F401
from workbench.settings import Settings, get_settings  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings rooted in a temp dir, without a mirror."""
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home, data_mirror=tmp_path / "no-mirror")


@pytest.fixture
def workbench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point WORKBENCH_HOME (for the CLI, notebooks and subprocesses) at a temp dir."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    mirror = shared_mirror()
    if mirror is not None:
        monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(mirror))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Both real datasets fetched from the mirror and prepared once per test session."""
    from workbench.data import fetch, prepare

    mirror = require_mirror()
    home = tmp_path_factory.mktemp("real-home")
    settings = Settings(home=home, data_mirror=mirror)
    for name in ("movies", "anime"):
        fetch(name, settings)
        prepare(name, settings)
    return settings


def pytest_collection_modifyitems(items) -> None:
    """Every test under tests/reliability/ counts as a reliability case."""
    for item in items:
        if "reliability" in item.path.parts:
            item.add_marker(pytest.mark.reliability)
