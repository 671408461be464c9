"""Sweeps: YAML validation, a toy sweep with a failing variant, resume, a real MLflow server."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import psutil
import pytest
import requests
from typer.testing import CliRunner

from tests.conftest import free_port, loopback_server
from workbench import data
from workbench.cli import app
from workbench.experiments import (
    SweepError,
    compare_sweep,
    expand,
    load_sweep,
    run_sweep,
    sweep_runs,
)
from workbench.experiments.sweeps import TAG_ERROR, TAG_PARENT
from workbench.settings import Settings

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("experiment: x\nnotebook: 01_data_overview\nvariants: [{name: a}]\ncolour: red\n",
     r"colour: Extra inputs are not permitted"),
    ("notebook: 01_data_overview\nvariants: [{name: a}]\n", r"experiment: Field required"),
    ("experiment: x\nnotebook: 01_data_overview\n", r"no variants"),
    ("experiment: x\nnotebook: 01_data_overview\ngrid: {dataset: []}\n",
     r"grid key\(s\) \['dataset'\] have no values"),
    ("experiment: x\nvariants: [{name: a, parametres: {}}]\n",
     r"variants\.0\.parametres: Extra inputs"),
    ("experiment: x\nvariants: [{name: 'a b'}]\n", r"variants\.0\.name: String should match"),
    ("- just\n- a list\n", r"a sweep file is a mapping"),
    ("experiment: [unclosed\n", r"not valid YAML"),
])
def test_structural_errors_name_the_key(tmp_path, text, message) -> None:
    with pytest.raises(SweepError, match=message):
        load_sweep(_write(tmp_path, text))


@pytest.mark.parametrize(("text", "message"), [
    ("variants: [{name: a}, {name: a}]", r"variant 'a': duplicate variant name"),
    ("variants: [{name: a, notebook: 99_nope}]", r"notebook '99_nope' not found"),
    ("variants: [{name: a, parameters: {datset: toy}}]",
     r"variant 'a': 01_data_overview.ipynb does not declare parameter\(s\) \['datset'\]"),
    ("variants: [{name: a, parameters: {track: 'yes'}}]",
     r"parameter 'track' = 'yes' should be a bool"),
    ("variants: [{name: a, parameters: {mlflow_experiment: other}}]",
     r"do not set mlflow_experiment"),
    ("variants: [{name: a, notebook: 03_train_collaborative, parameters: {epochs: ten}}]",
     r"parameter 'epochs' = 'ten' should be a int"),
])
def test_variant_errors_are_found_before_anything_runs(tmp_path, text, message) -> None:
    spec = load_sweep(_write(tmp_path, f"experiment: x\nnotebook: 01_data_overview\n{text}\n"))
    with pytest.raises(SweepError, match=message):
        expand(spec)


def test_expansion_of_lists_and_grids_with_typed_values(tmp_path) -> None:
    spec = load_sweep(_write(tmp_path, """
experiment: cf
notebook: 03_train_collaborative
parameters: {dataset: toy}
variants:
  - name: layers
    parameters: {model: mlp, mlp_layers: [8, 4]}
  - name: cf
    parameters: {save_model: false}
    grid: {model: [mf, gmf], lr: [0.01]}
grid: {seed: [1, 2]}
""", "my_sweep.yaml"))
    variants = {v.name: v for v in expand(spec)}
    assert spec.name == "my_sweep"
    assert list(variants) == ["layers", "cf.model=mf,lr=0.01", "cf.model=gmf,lr=0.01",
                              "seed=1", "seed=2"]
    assert variants["layers"].parameters["mlp_layers"] == [8, 4]  # typed, not a string
    assert variants["cf.model=gmf,lr=0.01"].parameters == {
        "dataset": "toy", "save_model": False, "model": "gmf", "lr": 0.01,
        "mlflow_experiment": "cf"}
    hashes = {v.params_hash for v in variants.values()}
    assert len(hashes) == 5


@pytest.mark.parametrize("name", ["movies_default", "anime_default", "toy_default"])
def test_shipped_sweeps_are_valid(name) -> None:
    spec = load_sweep(REPO / "experiments" / f"{name}.yaml")
    names = [v.name for v in expand(spec, REPO)]
    assert "hybrid-alpha" in names and "content-text-only" in names
    assert {f"collaborative.model={m}" for m in ("popularity", "mf", "gmf", "mlp", "neumf")
            } <= set(names)


TOY_SWEEP = """
experiment: toy-sweep
notebook: 01_data_overview
parameters: {dataset: toy}
compare: [items, users]
variants:
  - name: overview
  - name: broken
    parameters: {dataset: nope}
  - name: popularity
    notebook: 03_train_collaborative
    parameters: {model: popularity, mlp_layers: [8, 4], register: false, save_model: false}
"""


def _kernels() -> list[psutil.Process]:
    children = psutil.Process().children(recursive=True)
    return [p for p in children if "ipykernel" in " ".join(p.cmdline())]


@pytest.mark.integration
def test_sweep_records_failure_runs_the_rest_and_resumes(workbench_env, tmp_path) -> None:
    data.prepare("toy", workbench_env)
    path = _write(tmp_path, TOY_SWEEP, "toy_sweep.yaml")
    result = runner.invoke(app, ["experiments", "run", str(path), "-j", "2"])
    assert result.exit_code == 1, result.output
    assert "1 variant(s) failed" in result.output
    assert not _kernels()  # every kernel was shut down
    spec = load_sweep(path)
    runs = sweep_runs(spec).set_index("variant")
    assert runs.loc["overview", "status"] == "FINISHED"
    assert runs.loc["popularity", "status"] == "FINISHED"
    assert runs.loc["broken", "status"] == "FAILED"
    assert "unknown dataset 'nope'" in runs.loc["broken", "error"]
    client = mlflow.MlflowClient()
    parents = {client.get_run(r).data.tags[TAG_PARENT] for r in runs["run_id"]}
    assert len(parents) == 1  # one parent run, a child per variant
    parent = client.get_run(parents.pop())
    assert parent.info.status == "FAILED" and parent.data.metrics["variants_failed"] == 1
    for variant in runs.index:
        artifacts = {a.path for a in client.list_artifacts(runs.loc[variant, "run_id"],
                                                           "notebook")}
        assert artifacts == {f"notebook/{variant}.ipynb"}
        assert (workbench_env.experiments_dir / "runs" / "toy_sweep" /
                f"{variant}.ipynb").is_file()
    popularity = client.get_run(runs.loc["popularity", "run_id"])
    assert popularity.data.params["mlp_layers"] == "(8, 4)"  # a list arrived typed
    assert client.get_run(runs.loc["broken", "run_id"]).data.tags[TAG_ERROR].startswith(
        "01_data_overview.ipynb failed in cell")

    again = run_sweep(spec, workbench_env, progress=False)
    status = {o.variant: o.status for o in again.outcomes}
    assert status == {"overview": "SKIPPED", "popularity": "SKIPPED", "broken": "FAILED"}
    plan = run_sweep(spec, workbench_env, dry_run=True, force=True, progress=False)
    assert {o.status for o in plan.outcomes} == {"PLANNED"}
    with pytest.raises(SweepError, match=r"no variant\(s\) \['nope'\]"):
        run_sweep(spec, workbench_env, only=["nope"])

    table, figure = compare_sweep(spec)
    assert list(table.columns) == ["variant", "status", "items", "users"]
    assert table.set_index("variant").loc["overview", "items"] == 50
    assert len(figure.axes) == 2
    compared = runner.invoke(app, ["experiments", "compare", str(path)])
    assert compared.exit_code == 0, compared.output
    assert (workbench_env.experiments_dir / "runs" / "toy_sweep" / "compare.png").is_file()


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow tracking server on a free loopback port; stopped afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=1).ok
        except requests.ConnectionError:
            return False

    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
               "--artifacts-destination", str(tmp_path / "server-artifacts")]
    with loopback_server("the MLflow server", command, healthy):
        yield url


@pytest.mark.integration
def test_sweep_against_a_real_mlflow_server(workbench_env, tmp_path, monkeypatch,
                                            mlflow_server) -> None:
    data.prepare("toy", workbench_env)
    monkeypatch.setenv("WORKBENCH_MLFLOW_URI", mlflow_server)
    settings = Settings(home=workbench_env.home, mlflow_uri=mlflow_server)
    spec = load_sweep(_write(tmp_path, "experiment: served\nnotebook: 01_data_overview\n"
                                       "parameters: {dataset: toy}\nvariants: [{name: one}]\n"))
    report = run_sweep(spec, settings, progress=False)
    assert [o.status for o in report.outcomes] == ["FINISHED"]
    api = f"{mlflow_server}/api/2.0/mlflow"
    experiment = requests.get(f"{api}/experiments/get-by-name",
                              params={"experiment_name": "served"}, timeout=10).json()
    experiment_id = experiment["experiment"]["experiment_id"]
    runs = requests.post(f"{api}/runs/search", json={"experiment_ids": [experiment_id]},
                         timeout=10).json()["runs"]
    by_status = {r["info"]["status"] for r in runs}
    assert len(runs) == 2 and by_status == {"FINISHED"}  # the parent and its child
    child = next(r for r in runs if any(t["key"] == TAG_PARENT
                                        for t in r["data"].get("tags", [])))
    metrics = {m["key"]: m["value"] for m in child["data"]["metrics"]}
    assert metrics["items"] == 50
    listed = requests.get(f"{api}/artifacts/list",
                          params={"run_id": child["info"]["run_id"], "path": "notebook"},
                          timeout=10).json()
    assert [f["path"] for f in listed["files"]] == ["notebook/one.ipynb"]
    assert not (workbench_env.experiments_dir / "mlflow.db").exists()  # nothing went local


def test_compare_before_any_run_names_the_command(workbench_env, tmp_path) -> None:
    path = _write(tmp_path, "experiment: never-run\nnotebook: 01_data_overview\n"
                            "variants: [{name: a}]\n")
    result = runner.invoke(app, ["experiments", "compare", str(path)])
    assert result.exit_code == 1
    assert "has no runs in MLflow experiment 'never-run'" in result.output
    assert "workbench experiments run" in result.output
    missing = runner.invoke(app, ["experiments", "run", "no_such_sweep"])
    assert missing.exit_code == 1 and "no sweep file 'no_such_sweep'" in missing.output
