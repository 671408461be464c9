"""The main job end to end on the toy dataset: a first run does everything, a second skips it."""

from __future__ import annotations

import time

import mlflow
import pytest
from typer.testing import CliRunner

from workbench.cli import app

runner = CliRunner()


@pytest.mark.integration
def test_pipeline_runs_everything_then_skips_finished_work(workbench_env) -> None:
    first = runner.invoke(app, ["pipeline", "--dataset", "toy"])
    assert first.exit_code == 0, first.output
    for line in ("== toy: content index\n", "== toy: collaborative model (sweep variant",
                 "== toy: sweep toy_default", "toy_default: latest run of each variant",
                 "champion toy-collaborative: version", "make mlflow-ui"):
        assert line in first.output, line
    assert first.output.count("FINISHED") >= 8 and "FAILED" not in first.output
    mlflow.set_tracking_uri(workbench_env.mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["toy-default"], output_format="list")
    assert len(runs) == 10  # eight variants, the parent of the sweep, the parent of the
    # first run of the default-model variant (trained before the sweep, skipped in it)
    assert (workbench_env.models_dir / "toy" / "content" / "index.npz").is_file()
    started = time.perf_counter()
    second = runner.invoke(app, ["pipeline", "--dataset", "toy"])
    assert second.exit_code == 0, second.output
    assert "content index up to date" in second.output
    assert "collaborative model up to date" in second.output
    assert second.output.count("SKIPPED") == 8
    assert time.perf_counter() - started < 60
