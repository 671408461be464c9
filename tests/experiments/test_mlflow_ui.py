"""How a sweep's runs look in the MLflow UI: rounded metrics, short run names, the notebook as
the source, the parent run's model table, the experiment's saved view and its link, and the
older runs retagged (workbench.experiments.mlflow_ui). The browser's side:
tests/test_mlflow_ui_browser.py."""

from __future__ import annotations

import json
import os

import mlflow
import pytest
from typer.testing import CliRunner

from tests.helpers import REPO, free_port
from tests.helpers.sweeps import tracked_model_sweep
from workbench import tracking
from workbench.cli import app
from workbench.experiments import mlflow_ui
from workbench.settings import Settings, get_settings

MODELS = ("popularity", "itemknn", "ease")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A home with the tracked three-model toy sweep; its settings, report and client."""
    home = tmp_path_factory.mktemp("mlflow-ui")
    settings = Settings(home=home, data_mirror=home / "none")
    report = tracked_model_sweep(settings, home)
    tracking.configure(settings)
    return settings, report, mlflow.MlflowClient()


def test_round_metric_keeps_six_significant_digits() -> None:
    assert tracking.round_metric(0.174787145934416) == 0.174787
    assert tracking.round_metric(0.0413839891451832) == 0.041384
    assert tracking.round_metric(150.099821746881) == 150.1
    assert tracking.round_metric(12345678.9) == 12345679  # digits before the point stay
    assert tracking.round_metric(0.0) == 0.0 and tracking.round_metric(-2.5) == -2.5
    assert tracking.round_metric(float("inf")) == float("inf")


def test_model_run_names_and_notebook_sources(monkeypatch) -> None:
    assert tracking.model_run_name("anime", "ease", 42) == "anime/ease seed 42"
    assert tracking.model_run_name("movies", "mf", 1, "explicit", trial=True) == \
        "movies/mf seed 1 explicit trial"
    inside = tracking.source_tags(REPO / "notebooks" / "03_train_collaborative.ipynb")
    assert inside == {"mlflow.source.name": "notebooks/03_train_collaborative.ipynb",
                      "mlflow.source.type": "NOTEBOOK"}
    assert tracking.source_tags("/elsewhere/x.ipynb")["mlflow.source.name"] == \
        "/elsewhere/x.ipynb"
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert tracking.notebook_source() == {}  # not a kernel Jupyter started
    monkeypatch.setenv("JPY_SESSION_NAME", str(REPO / "notebooks" / "01_data_overview.ipynb"))
    assert tracking.notebook_source()["mlflow.source.name"] == "notebooks/01_data_overview.ipynb"


def test_a_sweep_leaves_the_model_table_and_the_view(swept, tmp_path) -> None:
    _, report, client = swept
    assert {o.status for o in report.outcomes} == {"FINISHED"}
    experiment = client.get_experiment_by_name("toy-models")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="tags.`workbench.variant` != ''")
    assert sorted(r.info.run_name for r in runs) == sorted(f"toy/{m} seed 42" for m in MODELS)
    for run in runs:
        assert run.data.tags["mlflow.source.name"] == "notebooks/03_train_collaborative.ipynb"
        value = run.data.metrics["val_full_ndcg_at_10"]
        assert value == tracking.round_metric(value) and len(repr(value)) <= 8  # 0.465861
    # the parent run: the table (best validation first), as CSV, Markdown and a chart
    parent = client.get_run(report.parent_run_id)
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "zoo_table.csv", "zoo_table.md", "zoo_ndcg.png"}
    import pandas as pd

    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "zoo_table.csv",
                                                  str(tmp_path)))
    assert len(table) == len(MODELS)
    assert list(table["val NDCG@10"]) == sorted(table["val NDCG@10"], reverse=True)
    assert table["test NDCG@10"].notna().all()
    # the saved view: filtered on and sorted by validation NDCG@10, both NDCG columns first
    tags = client.get_experiment(experiment.experiment_id).tags
    view = json.loads(tags[mlflow_ui.VIEW_TAG])
    state = json.loads(view["state"])
    assert state["orderByKey"] == "metrics.`val_full_ndcg_at_10`" and not state["orderByAsc"]
    assert state["selectedColumns"][:2] == ["metrics.`val_full_ndcg_at_10`",
                                            "metrics.`test_full_ndcg_at_10`"]
    assert state["columnOrder"][1:3] == state["selectedColumns"][:2]
    assert tags[mlflow_ui.PRIMARY_METRIC_TAG] == "val_full_ndcg_at_10"
    assert not mlflow_ui.save_view(client, experiment.experiment_id)  # there already
    link = mlflow_ui.ui_link(experiment.experiment_id, "http://127.0.0.1:5001")
    assert link == (f"http://127.0.0.1:5001/#/experiments/{experiment.experiment_id}/runs"
                    f"?workflowType=machine_learning&viewStateShareKey=models")


def test_older_runs_are_retagged(swept, tmp_path) -> None:
    """A run recorded before these conventions: named ``toy-ease-implicit-s42``, its source
    ``ipykernel_launcher.py``; the executed notebook attached names the input notebook."""
    _, _, client = swept
    experiment_id = client.get_experiment_by_name("toy-models").experiment_id
    old = client.create_run(experiment_id, run_name="toy-ease-implicit-s7", tags={
        "workbench.variant": "zoo.model=ease", "mlflow.source.type": "NOTEBOOK",
        "mlflow.source.name": "/x/.venv/lib/python3.11/site-packages/ipykernel_launcher.py"})
    for key, value in {"dataset": "toy", "model": "ease", "seed": 7,
                       "objective": "implicit"}.items():
        client.log_param(old.info.run_id, key, value)
    executed = tmp_path / "zoo.model=ease.ipynb"
    executed.write_text(json.dumps({"cells": [], "metadata": {"papermill": {
        "input_path": str(REPO / "notebooks" / "03_train_collaborative.ipynb")}}}))
    client.log_artifact(old.info.run_id, str(executed), "notebook")
    client.set_terminated(old.info.run_id)
    assert mlflow_ui.retag_runs(client, experiment_id) == 1  # the new runs are left alone
    run = client.get_run(old.info.run_id)
    assert run.info.run_name == "toy/ease seed 7"
    assert run.data.tags["mlflow.source.name"] == "notebooks/03_train_collaborative.ipynb"
    assert mlflow_ui.retag_runs(client, experiment_id) == 0


def test_the_cli_prints_the_links(swept, monkeypatch) -> None:
    settings, _, client = swept
    monkeypatch.setenv("WORKBENCH_HOME", str(settings.home))
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(settings.data_mirror))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["experiments", "ui-link", "--port", "5003"])
        assert result.exit_code == 0, result.output
        experiment_id = client.get_experiment_by_name("toy-models").experiment_id
        assert f"toy-models: http://127.0.0.1:5003/#/experiments/{experiment_id}/runs?" in \
            result.output
        import socket

        with socket.socket() as busy:  # a port in use: one line naming it
            busy.bind(("127.0.0.1", port := free_port()))
            busy.listen()
            result = CliRunner().invoke(app, ["mlflow-ui", "--port", str(port)])
        assert result.exit_code == 1
        assert result.output.strip() == (f"error: port {port} is in use: choose another one "
                                         f"(MLFLOW_PORT=5001 make mlflow-ui, or --port)")
    finally:
        get_settings.cache_clear()


def test_the_makefile_serves_through_the_cli() -> None:
    """`make mlflow-ui` is `workbench mlflow-ui` (one process, no job runner, the links)."""
    text = (REPO / "Makefile").read_text()
    target = text[text.index("\nmlflow-ui:"):].split("\n\n")[0]
    assert "$(BIN)/workbench mlflow-ui --port $(MLFLOW_PORT)" in target
    assert mlflow_ui.ui_command("sqlite:///x.db", 5000)[-2:] == ["--workers", "1"]
    assert mlflow_ui.UI_ENV["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert os.path.basename(mlflow_ui.ui_command("sqlite:///x.db", 5000)[0]) == "mlflow"


def test_a_sweep_without_models_logs_no_table(swept) -> None:
    settings, _, client = swept
    experiment_id = tracking.set_experiment("no-models", settings)
    parent = client.create_run(experiment_id)
    assert mlflow_ui.publish_model_table(client, experiment_id, "none", parent.info.run_id) \
        is None
    assert client.list_artifacts(parent.info.run_id) == []
    assert mlflow_ui.VIEW_TAG not in client.get_experiment(experiment_id).tags


def test_a_model_table_that_fails_does_not_fail_the_sweep(tmp_path, monkeypatch) -> None:
    """The table is a convenience: when logging it fails, the sweep still finishes and its
    report says so in a note."""
    def broken(*args, **kwargs):
        raise OSError("artifact store unreachable\nsecond line")

    monkeypatch.setattr(mlflow_ui, "publish_model_table", broken)
    settings = Settings(home=tmp_path, data_mirror=tmp_path / "none")
    report = tracked_model_sweep(settings, tmp_path)
    assert {o.status for o in report.outcomes} == {"FINISHED"}
    assert report.notes == ["the model table was not logged to the parent run (OSError: "
                            "artifact store unreachable)"]
