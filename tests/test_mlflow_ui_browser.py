"""The MLflow UI in a real browser: `workbench mlflow-ui` (what `make mlflow-ui` runs) on a
free loopback port, the link it prints opened in headless Chromium (Playwright): the runs
table shows, on first load, one row per trained model with its validation and test NDCG@10
columns, best validation first, as model training (not GenAI).

Runs on a three-model toy sweep trained in this process (tests/helpers/sweeps.py).
``make mlflow-screenshot`` runs it on a copy of a home's MLflow store
(``MLFLOW_UI_TEST_HOME``; the experiment ``MLFLOW_UI_EXPERIMENT``, anime-default by default)
and saves the docs' screenshot (``MLFLOW_UI_SCREENSHOT``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.helpers.sweeps import tracked_model_sweep
from tests.test_dashboard_browser import CHROMIUM_ARGS, chromium
from workbench.settings import Settings

VAL, TEST = "val_full_ndcg_at_10", "test_full_ndcg_at_10"


def _home(tmp_path: Path) -> tuple[Settings, str]:
    """A home with an MLflow store, and the experiment to look at: a copy of
    ``MLFLOW_UI_TEST_HOME``'s store (experiments/mlflow.db and mlartifacts/), or the toy
    sweep's."""
    home = tmp_path / "home"
    settings = Settings(home=home, data_mirror=tmp_path / "none")
    real = os.environ.get("MLFLOW_UI_TEST_HOME")
    if not real:
        home.mkdir()
        tracked_model_sweep(settings, tmp_path)
        return settings, "toy-models"
    source = Path(real) / "experiments"
    settings.experiments_dir.mkdir(parents=True)
    shutil.copy2(source / "mlflow.db", settings.experiments_dir / "mlflow.db")
    shutil.copytree(source / "mlartifacts", settings.artifacts_dir)
    return settings, os.environ.get("MLFLOW_UI_EXPERIMENT", "anime-default")


def _models(settings: Settings, experiment: str) -> list[str]:
    """The names of the experiment's runs that logged the validation NDCG@10."""
    import mlflow

    from workbench import tracking

    tracking.configure(settings)
    return [r.info.run_name for r in mlflow.search_runs(
        experiment_names=[experiment], output_format="list",
        filter_string=f"metrics.{VAL} >= 0")]


def _printed_link(out: Path, experiment: str, process: subprocess.Popen,
                  timeout_s: float = 180) -> tuple[str, float]:
    """The link `workbench mlflow-ui` printed for ``experiment`` once the UI answered, and
    the seconds that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        text = out.read_text()
        found = re.search(rf"^\s+{re.escape(experiment)}: (http://\S+)$", text, re.M)
        if "MLflow UI on" in text and found:
            return found.group(1), time.monotonic() - started
        if process.poll() is not None:
            pytest.fail(f"workbench mlflow-ui exited: {text}")
        time.sleep(0.3)
    pytest.fail(f"workbench mlflow-ui printed no link within {timeout_s} s: {out.read_text()}")


@pytest.mark.integration
def test_the_mlflow_ui_opens_on_the_model_table(tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    browser_path = chromium()
    settings, experiment = _home(tmp_path)
    screenshot = Path(os.environ.get("MLFLOW_UI_SCREENSHOT") or tmp_path / "mlflow-ui.png")
    env = {**os.environ, **settings.to_env()}
    port = free_port()
    out = tmp_path / "mlflow-ui.out"
    with open(out, "wb") as sink:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "workbench"), "mlflow-ui", "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        link, seconds = _printed_link(out, experiment, process)
        print(f"mlflow-ui answered after {seconds:.1f} s")
        models = _models(settings, experiment)  # after the retagging of older runs
        assert link.startswith(f"http://127.0.0.1:{port}/#/experiments/")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                page.goto(link, timeout=60_000)
                headers = page.locator("[role=columnheader]")
                for metric in (VAL, TEST):
                    expect(headers.filter(has_text=metric).first).to_be_visible(
                        timeout=60_000)
                rows = page.locator(".ag-center-cols-container [role=row]")
                expect(rows).to_have_count(len(models), timeout=30_000)
                for name in set(models):  # one row per run, each named by its run (a
                    # store older than supersede() may hold a forced rerun's earlier run)
                    links = page.get_by_role("link", name=name, exact=True)
                    expect(links).to_have_count(models.count(name))
                    expect(links.first).to_be_visible()
                expect(page.get_by_text("Model training", exact=True)).to_be_visible()
                assert "Evaluation runs" not in page.locator("body").inner_text()
                page.wait_for_timeout(500)
                page.screenshot(path=str(screenshot), full_page=False)
            finally:
                browser.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    assert "stopping" in out.read_text()
    assert screenshot.stat().st_size > 10_000
