"""Helpers shared by the tests (imported, unlike fixtures, which live in conftest.py):
the checkout's root, the real data mirror, a toy home with every pipeline artifact, and
loopback servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from workbench.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def shared_mirror() -> Path | None:
    """The real data mirror (../shared/data beside the checkout), if present."""
    mirror = REPO.parent / "shared" / "data"
    return mirror if mirror.is_dir() else None


def require_mirror() -> Path:
    """The mirror, or a skip (a failure in CI, where it must be there)."""
    mirror = shared_mirror()
    if mirror is None:
        message = f"no data mirror at {REPO.parent / 'shared' / 'data'}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return mirror


TOY_KERAS = {"epochs": 15, "lr": 0.01, "patience": 15, "batch_size": 64}
"""Short Keras training for the toy dataset."""
TOY_MODELS = ("mf", "popularity", "ease", "neumf")
"""The models every toy home holds (``models/toy/collaborative/<model>-implicit``)."""


def build_toy_artifacts(settings: Settings, kinds: tuple[str, ...] = TOY_MODELS) -> None:
    """Prepare toy, build and save its content index, train and save implicit models of
    ``kinds`` on its leave-last-out split: what `make pipeline` leaves for a real dataset,
    but the champion (see :func:`fill_toy_home`). Tests get a copy of one such home, built
    once per test run (the ``toy_home`` fixture)."""
    from workbench import data
    from workbench.collaborative import make_config, model_dir, train
    from workbench.content import ContentConfig, build_content_index

    data.prepare("toy", settings)
    build_content_index(ContentConfig(dataset="toy", ae_epochs=5), settings, progress=False)
    split = data.load_split("toy", "leave_last_out", settings)
    catalog = data.load_items("toy", settings)["item_id"].to_numpy()
    for kind in kinds:
        params = TOY_KERAS if kind in ("mf", "gmf", "mlp", "neumf") else {}
        config = make_config(dataset="toy", model=kind, params=params)
        train(config, split.train, catalog, settings=settings).save(
            model_dir(config, settings))


def fill_toy_home(settings: Settings, template: Path, champion: str | None = "mf") -> Settings:
    """Copy the toy home ``template`` (:func:`build_toy_artifacts`) into ``settings.home``
    and make ``champion`` (a model of :data:`TOY_MODELS`) its champion, as the pipeline's
    champion copy (``champion.json`` with version 1); returns ``settings``."""
    from workbench.storage import replace_folder, write_json

    shutil.copytree(template, settings.home, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".complete"))
    if champion is not None:
        target = settings.champion_dir("toy")
        replace_folder(settings.model_dir("toy", f"{champion}-implicit"), target, copy=True)
        write_json(target / "champion.json", {"model": champion, "version": "1"})
    return settings


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def loopback_server(name: str, command: list[str], ready: Callable[[], bool],
                    env: dict[str, str] | None = None, timeout_s: float = 60,
                    cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """Run a server ``command`` in its own process group until ``ready()``; stop it after.
    Yields the server's process."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, cwd=cwd)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited at start-up")
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer within {timeout_s:g} s")
            time.sleep(0.5)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
