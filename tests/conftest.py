"""Shared fixtures: isolated settings, caches pointed at a temp dir, the real mirror data.
Helpers that tests import live in :mod:`tests.helpers`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

# One cache folder per test run, shared by pytest-xdist's workers (their common run id), so the
# int8 encoder graph below is built once, under its file lock, not once per worker.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_CACHE = (Path(tempfile.gettempdir()) / f"workbench-test-cache-{_RUN}" if _RUN
          else Path(tempfile.mkdtemp(prefix="workbench-test-cache-")))
_CACHE.mkdir(exist_ok=True)
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
# encoder graph, built once per test run instead of once per home.
os.environ["WORKBENCH_ENCODER_CACHE"] = str(_CACHE / "onnx")
# A test that names no home of its own works in a temporary one, never in the checkout (its
# data/, models/ and experiments/ belong to the user's `make pipeline`).
os.environ["WORKBENCH_HOME"] = str(_CACHE / "home")

from tests.helpers import (  # noqa: E402, F401
    REPO,
    build_toy_artifacts,
    fill_toy_home,
    require_mirror,
    shared_mirror,
)
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


def _shared_build(tmp_path_factory: pytest.TempPathFactory, name: str,
                  build: Callable[[Path], None]) -> Path:
    """``<basetemp>/<name>``, built by ``build`` once per test run: with pytest-xdist, once
    for all workers (the first builds it under a file lock in their shared temp folder, the
    others wait and reuse it). Tests only read what it holds."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / name
    with FileLock(str(path) + ".lock"):
        if not (path / ".complete").is_file():
            shutil.rmtree(path, ignore_errors=True)  # what a failed build left
            build(path)
            (path / ".complete").touch()
    return path


@pytest.fixture(scope="session")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Both real datasets fetched from the mirror and prepared once per test run (read only)."""
    from workbench.data import fetch, prepare

    mirror = require_mirror()

    def build(home: Path) -> None:
        settings = Settings(home=home, data_mirror=mirror)
        for name in ("movies", "anime"):
            fetch(name, settings)
            prepare(name, settings)

    return Settings(home=_shared_build(tmp_path_factory, "real-home", build), data_mirror=mirror)


@pytest.fixture(scope="session")
def toy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy home with every pipeline artifact (:func:`tests.helpers.build_toy_artifacts`),
    built once per test run; tests copy it (``toy_home``, :func:`fill_toy_home`)."""
    return _shared_build(tmp_path_factory, "toy-template", lambda path: build_toy_artifacts(
        Settings(home=path, data_mirror=path / "no-mirror")))


@pytest.fixture(scope="session")
def toy_home(toy_template: Path, tmp_path_factory: pytest.TempPathFactory):
    """``toy_home(name, champion="mf", **settings)``: a fresh copy of the toy template in a
    new temp folder, with ``champion`` as its champion; returns its :class:`Settings`."""
    def make(name: str = "toy-home", champion: str | None = "mf", **values) -> Settings:
        home = tmp_path_factory.mktemp(name)
        values.setdefault("data_mirror", home / "no-mirror")
        return fill_toy_home(Settings(home=home, **values), toy_template, champion)

    return make


def pytest_collection_modifyitems(items) -> None:
    """Every test under tests/reliability/ counts as a reliability case; the files with a
    ``slow`` test (a minute or more) run first, whole, so that with pytest-xdist (``make test``
    gives two workers whole files, ``--dist loadfile``) they are handed out first and the
    short ones fill in around them, instead of one long test running alone at the end."""
    for item in items:
        if "reliability" in item.path.parts:
            item.add_marker(pytest.mark.reliability)
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # a file's tests stay together
