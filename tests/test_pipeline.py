"""The main job end to end on the toy dataset: a first run does everything, a second skips it."""

from __future__ import annotations

import shutil
import time

import mlflow
import pytest
from typer.testing import CliRunner

from workbench.cli import app

runner = CliRunner()


@pytest.mark.integration
@pytest.mark.slow
def test_pipeline_runs_everything_then_skips_finished_work(workbench_env) -> None:
    first = runner.invoke(app, ["pipeline", "--dataset", "toy"])
    assert first.exit_code == 0, first.output
    for line in ("== toy: content index\n", "== toy: sweep toy_default",
                 "toy_default: latest run of each variant",
                 "champion toy-collaborative: version", "chosen on val NDCG@10",
                 "make mlflow-ui"):
        assert line in first.output, line
    assert first.output.count("FINISHED") >= 8 and "FAILED" not in first.output
    start = first.output.index("toy_default: latest run of each variant")
    report = first.output[start:first.output.index("\npipeline finished")]
    assert max(len(line) for line in report.splitlines()) <= 100  # the table fits a terminal
    assert "kernels.log" in first.output  # where the kernels' own output went
    assert "libraries.log" in first.output  # and TensorFlow's and MLflow's
    assert "toy-hybrid v1 registered as champion" in first.output
    for noise in ("Validating input example", "Successfully registered model"):
        assert noise not in first.output, noise
    mlflow.set_tracking_uri(workbench_env.mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["toy-default"], output_format="list")
    assert len(runs) == 9  # eight variants and the parent of the sweep
    hybrid = next(r for r in runs if r.info.run_name == "toy-hybrid-blend")
    champion = mlflow.MlflowClient().get_model_version_by_alias("toy-collaborative",
                                                                "champion")
    model = mlflow.MlflowClient().get_run(champion.run_id).data.params["model"]
    assert hybrid.data.params["collaborative_kind"] == model  # stage 1 used the champion
    stage0 = [r for r in runs if "workbench.variant" in r.data.tags and r is not hybrid]
    assert len(stage0) == 7
    assert hybrid.info.start_time > max(r.info.end_time for r in stage0)
    local = workbench_env.models_dir / "toy" / "collaborative" / "champion"
    assert (local / "champion.json").is_file()
    assert (workbench_env.models_dir / "toy" / "content" / "index.npz").is_file()
    shutil.rmtree(local)  # a lost local copy comes back from the registry
    started = time.perf_counter()
    second = runner.invoke(app, ["pipeline", "--dataset", "toy"])
    assert second.exit_code == 0, second.output
    assert "content index up to date" in second.output
    assert second.output.count("SKIPPED") == 8, second.output
    assert f"champion toy-collaborative v{champion.version} copied to" in second.output
    assert (local / "config.json").is_file()
    assert time.perf_counter() - started < 60
