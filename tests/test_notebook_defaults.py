"""Every notebook runs with its defaults after `make pipeline`, as the README promises.

Runs against a copy of a home that `make pipeline` filled (``PIPELINE_TEST_HOME``, else this
checkout), so the real home's models, registry and MLflow store are never touched: its
``data/`` and ``models/`` are copied, with a fresh ``experiments/`` holding only the query
sets and tuned values the notebooks read. Skipped where no pipeline ran (a fresh CI clone:
embedding the catalogs exceeds the test budget). About 5 minutes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mlflow
import pytest

from tests.helpers import REPO
from workbench.experiments.notebooks import execute_notebook
from workbench.settings import get_settings

pytestmark = pytest.mark.integration

NOTEBOOKS = {  # notebook -> the MLflow experiment its defaults log to
    "01_data_overview": "data-overview",
    "02_content_index": "content-index",
    "03_train_collaborative": "collaborative",
    "04_hybrid_evaluation": "hybrid",
}


@pytest.fixture(scope="module")
def pipeline_home(tmp_path_factory) -> Path:
    """A copy of a pipeline home with an empty MLflow store."""
    home = Path(os.environ.get("PIPELINE_TEST_HOME", REPO))
    needed = [home / "data" / "processed" / "movies" / "items.parquet",
              home / "models" / "movies" / "content" / "index.npz",
              home / "models" / "movies" / "collaborative" / "champion" / "config.json"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        pytest.skip(f"no pipeline artifacts under {home} ({', '.join(missing)}): run `make "
                    f"pipeline` there, or set PIPELINE_TEST_HOME to a home that has them")
    copy = tmp_path_factory.mktemp("pipeline-home")
    shutil.copytree(home / "data", copy / "data")
    shutil.copytree(home / "models", copy / "models")
    for folder in ("queries", "tuned"):
        shutil.copytree(home / "experiments" / folder, copy / "experiments" / folder)
    return copy


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_notebook_runs_with_its_defaults(pipeline_home, notebook, tmp_path,
                                         monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(pipeline_home))
    get_settings.cache_clear()
    try:
        execute_notebook(REPO / "notebooks" / f"{notebook}.ipynb", tmp_path / "out.ipynb", {})
        settings = get_settings()
        mlflow.set_tracking_uri(settings.mlflow_uri)
        runs = mlflow.search_runs(experiment_names=[NOTEBOOKS[notebook]], output_format="list")
        assert runs and runs[0].info.status == "FINISHED"
        assert runs[0].data.params.get("dataset") == "movies"
    finally:
        get_settings.cache_clear()
