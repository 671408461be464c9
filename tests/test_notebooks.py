"""Notebooks: thin, stripped, parameterised; executed through papermill, results in MLflow."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mlflow
import nbformat
import pandas as pd
import pytest

from tests.helpers import REPO
from workbench import data
from workbench.content.ranking import RankingConfig
from workbench.experiments import NotebookError, declared_parameters, execute_notebook

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
INTERACTIVE = {"dashboard.ipynb"}  # served by Voila, not run by papermill: no parameters


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_stripped_and_parameterised(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    if path.name in INTERACTIVE:
        assert len(nb.cells) == 2  # import, then Dashboard().show(): the logic is in the package
    else:
        assert declared_parameters(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_missing_parameters_cell_and_unknown_parameter(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "bare.ipynb")
    with pytest.raises(NotebookError, match="no cell tagged 'parameters'"):
        execute_notebook(tmp_path / "bare.ipynb", tmp_path / "out.ipynb", {"x": 2})
    overview = REPO / "notebooks" / "01_data_overview.ipynb"
    with pytest.raises(NotebookError, match=r"does not declare parameter\(s\) \['datset'\]"):
        execute_notebook(overview, tmp_path / "out.ipynb", {"datset": "toy"})
    assert not (tmp_path / "out.ipynb").exists()


@pytest.mark.integration
def test_data_overview_runs_and_records_in_mlflow(workbench_env, tmp_path: Path) -> None:
    data.prepare("toy", workbench_env)
    out = execute_notebook(
        REPO / "notebooks" / "01_data_overview.ipynb", tmp_path / "01.ipynb",
        {"dataset": "toy", "mlflow_experiment": "test-overview"},
    )
    executed = nbformat.read(out, as_version=4)
    assert any(o.get("data", {}).get("image/png") for c in executed.cells
               for o in c.get("outputs", []))
    mlflow.set_tracking_uri(workbench_env.mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["test-overview"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params == {"dataset": "toy"}
    assert run.data.metrics["items"] == 50
    assert run.data.metrics["interactions"] == 420
    artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)]
    assert "data_overview.png" in artifacts
    # artifacts live under the settings' experiments folder, not the notebook's cwd
    assert run.info.artifact_uri.startswith(
        (workbench_env.experiments_dir / "mlartifacts" / "test-overview").as_uri())


@pytest.mark.integration
def test_failing_notebook_names_the_cell(workbench_env, tmp_path: Path) -> None:
    with pytest.raises(NotebookError, match=r"failed in cell \d+: WorkbenchError: .*prepare toy"):
        execute_notebook(REPO / "notebooks" / "01_data_overview.ipynb", tmp_path / "o.ipynb",
                         {"dataset": "toy", "track": False})


@pytest.mark.integration
def test_content_index_notebook_records_metrics_in_mlflow(workbench_env, tmp_path: Path) -> None:
    data.prepare("toy", workbench_env)
    execute_notebook(
        REPO / "notebooks" / "02_content_index.ipynb", tmp_path / "02.ipynb",
        {"dataset": "toy", "ae_epochs": 5, "genre_sample": 20, "mlflow_experiment": "test-content",
         "queries": str(REPO / "experiments" / "queries" / "toy.yaml")},
    )
    mlflow.set_tracking_uri(workbench_env.mlflow_uri)
    [run] = mlflow.search_runs(experiment_names=["test-content"], output_format="list")
    metrics = run.data.metrics
    for name in ("genre_precision_at_10", "query_recall_at_10", "query_mrr",
                 "text_only_query_recall_at_10", "text_only_query_mrr", "embed_seconds",
                 "autoencoder_seconds", "index_bytes", "autoencoder_loss",
                 "val_query_recall_at_10", "test_query_mrr", "dense_only_test_query_mrr",
                 "without_prior_val_query_hit_at_10", "without_bm25_test_query_recall_at_10"):
        assert name in metrics, name
    assert metrics["query_mrr"] > 0.5 and metrics["dim"] == 416 and metrics["items"] == 50
    assert run.data.params["fusion"] == "True" and run.data.params["index_type"] == "auto"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "autoencoder_loss")
    assert len(history) >= 2  # a per-epoch curve, not one number
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"autoencoder_loss.png", "retrieval_quality.png", "per_query.csv",
            "index_manifest.json", "search_ablation_per_query.csv"} <= artifacts
    assert run.data.params["ranking_prior_weight"] == str(RankingConfig().prior_weight)
    # the run spans the build it records, not just the logging at the end
    assert (run.info.end_time - run.info.start_time) / 1000 >= metrics["total_seconds"]
    assert (workbench_env.models_dir / "toy" / "content" / "index.npz").is_file()


@pytest.mark.parametrize(("notebook", "task"), [
    ("01_data_overview.ipynb", "workbench.tasks.data:OverviewTask"),
    ("02_content_index.ipynb", "workbench.tasks.content:ContentTask"),
    ("03_train_collaborative.ipynb", "workbench.tasks.collaborative:TrainTask"),
    ("04_hybrid_evaluation.ipynb", "workbench.tasks.hybrid:HybridTask"),
])
def test_notebook_parameters_are_the_tasks_defaults(notebook, task) -> None:
    """A notebook's parameters cell and its task config declare the same names and defaults
    (one source of truth; the notebook passes its variables to the task)."""
    import ast
    import importlib

    module, _, name = task.partition(":")
    cls = getattr(importlib.import_module(module), name)
    declared = {k: ast.literal_eval(v) for k, v in
                declared_parameters(REPO / "notebooks" / notebook).items()}
    defaults = {k: f.default for k, f in cls.model_fields.items()}
    assert declared == defaults


def _runs(experiment: str) -> dict:
    return {r.info.run_name: r for r in
            mlflow.search_runs(experiment_names=[experiment], output_format="list")}


@pytest.mark.integration
def test_collaborative_notebook_selects_on_validation_and_tests_once(workbench_env,
                                                                     tmp_path: Path) -> None:
    from tests.helpers import TOY_KERAS

    data.prepare("toy", workbench_env)
    notebook = REPO / "notebooks" / "03_train_collaborative.ipynb"
    for model, params in (("popularity", {}), ("neumf", {**TOY_KERAS, "epochs": 8,
                                                         "patience": 8,
                                                         "mlp_layers": [32, 16, 8]}),
                          ("ease", {"l2": 5.0})):
        execute_notebook(notebook, tmp_path / f"{model}.ipynb",
                         {"dataset": "toy", "model": model, "params": params,
                          "mlflow_experiment": "test-cf", "save_model": True,
                          "register_model": True})
    mlflow.set_tracking_uri(workbench_env.mlflow_uri)
    runs = _runs("test-cf")
    assert set(runs) == {f"toy/{m} seed 42" for m in ("popularity", "neumf", "ease")}
    neumf = runs["toy/neumf seed 42"]
    for name in ("val_full_ndcg_at_10", "test_full_ndcg_at_10", "test_full_recall_at_10",
                 "test_sampled_hr_at_10", "train_seconds", "select_seconds", "refit_seconds",
                 "best_epoch", "test_coverage_at_10", "test_novelty_at_10", "test_few_rows"):
        assert name in neumf.data.metrics, name
    assert neumf.data.params["params.mlp_layers"] == "[32, 16, 8]"  # a list arrived typed
    assert neumf.data.params["selected_by"] == "val_full_ndcg_at_10"
    client = mlflow.MlflowClient()
    curve = client.get_metric_history(neumf.info.run_id, "epoch_val_ndcg_at_10")
    assert len(curve) >= 2
    artifacts = {a.path for a in client.list_artifacts(neumf.info.run_id)}
    assert {"learning_curve.png", "model", "test_per_user.csv", "test_segments.png"} <= artifacts
    per_user = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
        f"runs:/{neumf.info.run_id}/test_per_user.csv")))
    assert {"history", "item_popularity", "user_segment", "item_segment"} <= set(per_user)
    versions = client.search_model_versions("name='toy-collaborative'")
    assert len(versions) == 3
    champion = client.get_model_version_by_alias("toy-collaborative", "champion")
    by_val = max(runs.values(), key=lambda r: r.data.metrics["val_full_ndcg_at_10"])
    assert champion.run_id == by_val.info.run_id  # chosen on validation...
    assert champion.tags["selected_by"] == "val_full_ndcg_at_10"
    local = workbench_env.models_dir / "toy" / "collaborative" / "champion"
    assert (local / "champion.json").is_file()  # ...and copied for the hybrid
    assert json.loads((local / "config.json").read_text())["config"]["model"] == \
        by_val.data.params["model"]

    from workbench.experiments import results_table

    table = results_table("test-cf", ("dataset", "model")).set_index("model")
    assert table.loc["neumf", "n"] == 1
    ndcg = neumf.data.metrics["test_full_ndcg_at_10"]
    assert table.loc["neumf", "test_full_ndcg_at_10"] == f"{ndcg:.4f}"
    assert "test_rmse" not in table.columns  # implicit models log no RMSE
    best = max(runs.values(), key=lambda r: r.data.metrics["test_full_ndcg_at_10"])
    assert table.loc[best.data.params["model"], "p_vs_best"] == "best"
    assert all(p == "best" or 0 <= float(p) <= 1 for p in table["p_vs_best"])


@pytest.mark.integration
def test_hybrid_notebook_chooses_alpha_on_validation(workbench_env, toy_template,
                                                    tmp_path: Path) -> None:
    from tests.helpers import fill_toy_home

    fill_toy_home(workbench_env, toy_template)
    notebook = REPO / "notebooks" / "04_hybrid_evaluation.ipynb"
    execute_notebook(notebook, tmp_path / "04.ipynb",
                     {"dataset": "toy", "alphas": [0.0, 0.5, 1.0], "candidates": 30,
                      "seeds_per_user": 2, "mlflow_experiment": "test-hybrid"})
    mlflow.set_tracking_uri(workbench_env.mlflow_uri)
    [run] = mlflow.search_runs(experiment_names=["test-hybrid"], output_format="list")
    metrics, client = run.data.metrics, mlflow.MlflowClient()
    assert run.data.params["model"] == "champion: mf v1"
    assert run.data.params["selected_by"] == "val_ndcg_at_10_filtered"
    assert metrics["val_requests"] > 20 and 0 <= metrics["val_candidate_recall"] <= 1
    assert run.data.params["alphas"] == "[0.0, 0.5, 1.0]"  # a list parameter arrived typed
    history = client.get_metric_history(run.info.run_id, "val_ndcg_at_10_filtered")
    by_alpha = {m.step / 100: m.value for m in history}
    assert sorted(by_alpha) == [0.0, 0.5, 1.0]
    assert metrics["best_alpha"] == max(by_alpha, key=lambda a: (by_alpha[a], -a))  # validation
    assert metrics["val_best_ndcg_at_10"] == pytest.approx(by_alpha[metrics["best_alpha"]],
                                                           rel=1e-5)  # logged rounded
    for name in ("test_ndcg_at_10", "test_ndcg_at_10_alpha_0", "test_ndcg_at_10_alpha_1",
                 "test_recall_at_10", "test_coverage_at_10"):
        assert name in metrics, name
    assert not [m for m in metrics if m.startswith("test_") and m.endswith("_filtered")]
    duplicates = {m.step: m.value for m in
                  client.get_metric_history(run.info.run_id, "val_franchise_duplicate_rate")}
    filtered = {m.step: m.value for m in client.get_metric_history(
        run.info.run_id, "val_franchise_duplicate_rate_filtered")}
    assert all(v == 0 for v in filtered.values()) and max(duplicates.values()) > 0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"tradeoff.png", "validation_tradeoff.json", "test.json"} <= artifacts


@pytest.mark.integration
def test_hybrid_notebook_refuses_a_model_from_another_split(workbench_env, toy_template,
                                                            tmp_path: Path) -> None:
    from tests.helpers import fill_toy_home

    fill_toy_home(workbench_env, toy_template, "popularity")
    with pytest.raises(NotebookError, match="trained on 'leave_last_out', not 'random_holdout'"):
        execute_notebook(REPO / "notebooks" / "04_hybrid_evaluation.ipynb",
                         tmp_path / "04.ipynb",
                         {"dataset": "toy", "collaborative": "popularity-implicit",
                          "split": "random_holdout"})


@pytest.mark.integration
def test_kernel_noise_goes_to_the_kernel_log(workbench_env, tmp_path: Path, capfd) -> None:
    """With ``kernel_log`` (what sweeps and the pipeline use), the kernel's own start-up
    output (ipykernel's transport warning, TensorFlow/absl lines) lands in the log file, not
    on the terminal; the executed notebook is unchanged."""
    data.prepare("toy", workbench_env)
    log = tmp_path / "runs" / "kernels.log"
    capfd.readouterr()
    execute_notebook(REPO / "notebooks" / "01_data_overview.ipynb", tmp_path / "01.ipynb",
                     {"dataset": "toy", "track": False}, kernel_log=log)
    err = capfd.readouterr().err
    assert "IPKernelApp" not in err and "absl" not in err, err
    assert log.is_file() and "IPKernelApp" in log.read_text()


def test_new_experiments_are_tagged_as_model_training(workbench_env) -> None:
    """MLflow 3's UI shows an experiment tagged as model training with its training runs
    (not the GenAI views); older experiments get the tag on their next use."""
    from workbench import tracking

    experiment_id = tracking.set_experiment("kind-test", workbench_env)
    client = mlflow.MlflowClient(workbench_env.mlflow_uri)
    tags = client.get_experiment(experiment_id).tags
    assert tags[tracking.EXPERIMENT_KIND] == tracking.MODEL_TRAINING
    old = client.create_experiment("untagged")
    tracking.set_experiment("untagged", workbench_env)
    assert client.get_experiment(old).tags[tracking.EXPERIMENT_KIND] == "custom_model_development"


def _kernels_that_die(monkeypatch, deaths: int) -> list[int]:
    """The next ``deaths`` kernels launched exit at once (as one that lost a port race does),
    saying so on stderr; returns the list of launches so far (one entry per launch)."""
    import sys

    from jupyter_client.manager import AsyncKernelManager

    launches: list[int] = []
    launch = AsyncKernelManager._async_launch_kernel

    async def flaky(self, kernel_cmd, **kw):
        launches.append(1)
        if len(launches) <= deaths:
            kernel_cmd = [sys.executable, "-c",
                          "import sys; sys.exit('zmq.error.ZMQError: Address already in use')"]
        await launch(self, kernel_cmd, **kw)

    monkeypatch.setattr(AsyncKernelManager, "_async_launch_kernel", flaky)
    return launches


def _tiny_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(x * 2)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.integration
@pytest.mark.parametrize("kernel_log", [False, True], ids=["plain", "quiet"])
def test_a_kernel_that_dies_at_start_is_started_again(monkeypatch, tmp_path: Path,
                                                       kernel_log: bool) -> None:
    launches = _kernels_that_die(monkeypatch, deaths=2)
    out = execute_notebook(_tiny_notebook(tmp_path / "t.ipynb"), tmp_path / "out.ipynb",
                           {"x": 21}, kernel_log=tmp_path / "k.log" if kernel_log else None)
    assert len(launches) == 3
    cells = nbformat.read(out, as_version=4).cells
    assert cells[-1].outputs[0]["text"] == "42\n"


@pytest.mark.integration
def test_a_kernel_that_always_dies_is_one_error_with_its_output(monkeypatch,
                                                                 tmp_path: Path) -> None:
    from workbench.experiments.notebooks import KERNEL_START_TRIES

    launches = _kernels_that_die(monkeypatch, deaths=99)
    with pytest.raises(NotebookError, match=r"t.ipynb: the python3 kernel died before it "
                       r"answered, 3 starts in a row; the end of its output .*\n"
                       r"(.*\n)*zmq.error.ZMQError: Address already in use") as err:
        execute_notebook(_tiny_notebook(tmp_path / "t.ipynb"), tmp_path / "out.ipynb",
                         kernel_log=tmp_path / "k.log")
    assert len(launches) == KERNEL_START_TRIES == 3
    assert err.value.__cause__ is None
