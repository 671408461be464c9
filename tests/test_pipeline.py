"""The main job end to end, in one run shared by the tests of this module: the toy dataset and
a dataset the project has never seen (a bookshop added by spec file, no Python touched). A
first run does everything, a second skips it."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

import mlflow
import pytest
from typer.testing import CliRunner

from tests.helpers.bookshop import write_bookshop
from workbench.cli import app
from workbench.settings import Settings, get_settings

runner = CliRunner()
# `make test` hands out whole files to its workers (pytest-xdist's --dist loadfile), so one
# worker runs the shared pipeline once for both tests
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class PipelineRun:
    settings: Settings
    env: dict[str, str]
    output: str

    def invoke(self, *args: str):
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args), env=self.env)
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> PipelineRun:
    """`data add` of the bookshop, then `workbench pipeline --dataset toy --dataset bookshop`
    in a new home."""
    home = tmp_path_factory.mktemp("pipeline-home")
    files = tmp_path_factory.mktemp("bookshop-files")
    env = {"WORKBENCH_HOME": str(home), "WORKBENCH_DATA_MIRROR": str(files)}
    run = PipelineRun(Settings(home=home, data_mirror=files), env, "")
    added = run.invoke("data", "add", str(write_bookshop(files)))
    assert added.exit_code == 0 and "added dataset bookshop" in added.output, added.output
    result = run.invoke("pipeline", "--dataset", "toy", "--dataset", "bookshop")
    assert result.exit_code == 0, result.output
    run.output = result.output
    return run


def test_pipeline_runs_everything_then_skips_finished_work(first_run) -> None:
    out, settings = first_run.output, first_run.settings
    for line in ("== toy: content index\n", "== toy: sweep toy_default",
                 "toy_default: latest run of each variant",
                 "champion toy-collaborative: version", "chosen on val NDCG@10",
                 "make mlflow-ui"):
        assert line in out, line
    toy = out[:out.index("== bookshop: fetch")]
    assert toy.count("FINISHED") >= 8 and "FAILED" not in out
    start = out.index("toy_default: latest run of each variant")
    report = out[start:out.index("\npipeline finished")]
    assert max(len(line) for line in report.splitlines()) <= 100  # the table fits a terminal
    assert "kernels.log" in out  # where the kernels' own output went
    assert "libraries.log" in out  # and TensorFlow's and MLflow's
    assert "toy-hybrid v1 registered as champion" in out
    for noise in ("Validating input example", "Successfully registered model"):
        assert noise not in out, noise
    mlflow.set_tracking_uri(settings.mlflow_uri)
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
    local = settings.champion_dir("toy")
    assert (local / "champion.json").is_file()
    assert settings.index_file("toy").is_file()
    shutil.rmtree(local)  # a lost local copy comes back from the registry
    started = time.perf_counter()
    second = first_run.invoke("pipeline", "--dataset", "toy")
    assert second.exit_code == 0, second.output
    assert "content index up to date" in second.output
    assert second.output.count("SKIPPED") == 8, second.output
    assert f"champion toy-collaborative v{champion.version} copied to" in second.output
    assert (local / "config.json").is_file()
    assert time.perf_counter() - started < 60


def test_the_main_job_runs_on_a_dataset_it_has_never_seen(first_run) -> None:
    """`data add` then `pipeline --dataset`: prepare, content index (title + genres), a
    generated default sweep in MLflow, the champion, and `recommend` answering."""
    out, settings = first_run.output, first_run.settings
    assert "no default sweep for bookshop: wrote" in out
    assert settings.sweep_file("bookshop_default").is_file()
    assert "champion bookshop-collaborative" in out
    client = mlflow.MlflowClient(settings.mlflow_uri)
    experiment = client.get_experiment_by_name("bookshop-default")
    runs = client.search_runs([experiment.experiment_id])
    finished = {r.data.tags.get("workbench.variant") for r in runs
                if r.info.status == "FINISHED"}
    assert {"content-text-only", "zoo.model=ease", "hybrid-alpha"} <= finished, finished
    answer = first_run.invoke("recommend", "--dataset", "bookshop", "--item", "100",
                              "--user", "1")
    assert answer.exit_code == 0, answer.output
    assert "Content match" in answer.output and "AI pick" in answer.output
