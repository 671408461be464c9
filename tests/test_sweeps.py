"""Sweeps: YAML validation, a toy sweep with a failing variant, resume, a real MLflow server."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import mlflow
import psutil
import pytest
import requests
from typer.testing import CliRunner

from tests.helpers import free_port, loopback_server
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
from workbench.experiments.sweeps import TAG_ERROR, TAG_PARENT, StatusLines
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
@pytest.mark.reliability
def test_structural_errors_name_the_key(tmp_path, text, message) -> None:
    with pytest.raises(SweepError, match=message):
        load_sweep(_write(tmp_path, text))


@pytest.mark.parametrize(("text", "message"), [
    ("variants: [{name: a}, {name: a}]", r"variant 'a': duplicate variant name"),
    ("variants: [{name: a, notebook: 99_nope}]", r"notebook '99_nope' not found"),
    ("variants: [{name: a, notebook: ../../../../../../../../etc/hostname}]",
     r"outside .*notebooks and the sweep file's folder"),
    ("variants: [{name: a, parameters: {datset: toy}}]",
     r"variant 'a': 01_data_overview.ipynb does not declare parameter\(s\) \['datset'\]"),
    ("variants: [{name: a, parameters: {track: 'yes'}}]",
     r"parameter 'track' = 'yes' should be a bool"),
    ("variants: [{name: a, parameters: {mlflow_experiment: other}}]",
     r"do not set mlflow_experiment"),
    ("variants: [{name: a, notebook: 03_train_collaborative, parameters: {seed: ten}}]",
     r"parameter 'seed' = 'ten' should be a int"),
    ("variants: [{name: a, notebook: 03_train_collaborative, parameters: {model: nope}}]",
     r"variant 'a': unknown model 'nope'; registered models: popularity"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, params.l2: -1}}]",
     r"variant 'a': invalid collaborative config: params\.l2: Input should be greater than 0"),
    ("variants: [{name: a, notebook: 03_train_collaborative, parameters: {model: ease},\n"
     "             search: {trials: 2, space: {params.l2: {float: [1, 9]}}}}]",
     r"a search variant must set `trial: true`"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {trials: 2, space: {params.factors: {int: [1, 9]}}}}]",
     r"search space 'params.factors' = 1: .*params\.factors: Extra inputs are not permitted"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {trials: 2, space: {params.l2: {float: [0, 9]}}}}]",
     r"search space 'params.l2' = 0.0: .*params\.l2: Input should be greater than 0"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: itemknn, trial: true},\n"
     "             search: {trials: 2, space: {params.neighbours: {float: [2, 50]}}}}]",
     r"search space 'params.neighbours' = 19.7.*: .*params\.neighbours: Input should be a valid "
     r"integer, got a number with a fractional part"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {trials: 2, space: {lr: {float: [0.1, 9]}}}}]",
     r"search space key 'lr': the notebook declares no parameter 'lr'"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {space: {params.l2: {float: [1, 9]}}}}]",
     r"search has no `trials` count"),
    ("variants: [{name: a, notebook: 02_content_index, parameters: {index_type: lsh}}]",
     r"variant 'a': index_type: Input should be 'flat', 'hnsw' or 'ivf'"),
    ("variants: [{name: a, notebook: 02_content_index, parameters: {ranking: {prior: 1}}}]",
     r"variant 'a': prior: Extra inputs are not permitted"),
])
def test_variant_errors_are_found_before_anything_runs(tmp_path, text, message) -> None:
    spec = load_sweep(_write(tmp_path, f"experiment: x\nnotebook: 01_data_overview\n{text}\n"))
    with pytest.raises(SweepError, match=message):
        expand(spec)


@pytest.mark.parametrize(("text", "message"), [
    ("search: {trials: 0}", r"search\.trials: Input should be greater than 0"),
    ("search: {objective: test_full_ndcg_at_10}", r"is a test metric: choose on validation"),
    ("search: {space: {x: {float: [2, 1]}}}", r"low must be below high"),
    ("search: {space: {x: {float: [0, 1], log: true}}}", r"a log range needs low > 0"),
    ("search: {space: {x: {int: [1, 5], choice: [1]}}}", r"give exactly one of"),
    ("search: {space: {x: {choice: []}}}", r"choice needs at least one value"),
    ("search: {space: {x: {int: [1, 9], step: 0.5}}}", r"an int range needs a whole step"),
    ("search: {space: {x: {uniform: [0, 1]}}}", r"uniform: Extra inputs are not permitted"),
])
@pytest.mark.reliability
def test_bad_search_blocks_are_refused_by_name(tmp_path, text, message) -> None:
    with pytest.raises(SweepError, match=message):
        load_sweep(_write(tmp_path, f"experiment: x\nnotebook: 03_train_collaborative\n"
                                    f"variants: [{{name: a}}]\n{text}\n"))


def test_expansion_of_lists_and_grids_with_typed_values(tmp_path) -> None:
    spec = load_sweep(_write(tmp_path, """
experiment: cf
notebook: 03_train_collaborative
parameters: {dataset: toy, model: mf, params: {epochs: 3}}
variants:
  - name: layers
    parameters: {model: mlp, params.mlp_layers: [8, 4]}
  - name: cf
    parameters: {save_model: false}
    grid: {model: [mf, gmf], params.lr: [0.01]}
  - name: later
    parameters: {model: gmf}
    stage: 1
grid: {seed: [1, 2]}
""", "my_sweep.yaml"))
    variants = {v.name: v for v in expand(spec)}
    assert spec.name == "my_sweep"
    assert list(variants) == ["layers", "cf.model=mf,params.lr=0.01",
                              "cf.model=gmf,params.lr=0.01", "later", "seed=1", "seed=2"]
    assert variants["layers"].parameters["params"] == {"epochs": 3, "mlp_layers": [8, 4]}
    assert variants["cf.model=gmf,params.lr=0.01"].parameters == {
        "dataset": "toy", "params": {"epochs": 3, "lr": 0.01}, "save_model": False,
        "model": "gmf", "mlflow_experiment": "cf"}
    assert variants["later"].stage == 1 and variants["layers"].stage == 0
    resolved = variants["layers"].resolved  # the task's own config, defaults filled in
    assert resolved["model"] == "mlp" and resolved["params"]["mlp_layers"] == [8, 4]
    assert resolved["params"]["lr"] == 0.001
    hashes = {v.params_hash for v in variants.values()}
    assert len(hashes) == 6


def test_a_changed_tuned_file_changes_the_variant_hash(tmp_path, monkeypatch) -> None:
    from workbench.settings import get_settings

    home = tmp_path / "home"
    (home / "experiments" / "tuned").mkdir(parents=True)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    get_settings.cache_clear()
    try:
        spec = load_sweep(_write(tmp_path, "experiment: x\nnotebook: 03_train_collaborative\n"
                                           "parameters: {dataset: toy, model: ease}\n"
                                           "variants: [{name: a}]\n"))
        before = expand(spec)[0].params_hash
        (home / "experiments" / "tuned" / "toy.yaml").write_text("ease: {l2: 42}\n")
        [after] = expand(spec)
        assert after.params_hash != before and after.resolved["params"]["l2"] == 42.0
        (home / "experiments" / "tuned" / "toy.yaml").write_text("ease: {l2: -1}\n")
        with pytest.raises(SweepError, match=r"tuned/toy.yaml: .*params\.l2: Input should be"):
            expand(spec)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("name", ["movies_default", "anime_default", "toy_default"])
def test_shipped_default_sweeps_are_valid(name) -> None:
    spec = load_sweep(REPO / "experiments" / f"{name}.yaml")
    variants = {v.name: v for v in expand(spec, REPO)}
    assert "content-text-only" in variants
    assert variants["hybrid-alpha"].stage == 1  # after the zoo has chosen the champion
    models = {v.parameters["model"] for v in variants.values() if "model" in v.parameters}
    if name != "toy_default":
        from workbench.collaborative import model_names

        # every candidate for champion; the NCF family (never the champion, and tuned NeuMF
        # alone took 12 minutes of the movies sweep) is in zoo.yaml
        assert models == set(model_names()) - {"mf", "gmf", "mlp", "neumf"}


def test_shipped_tuning_and_zoo_sweeps_are_valid() -> None:
    from workbench.collaborative import model_names

    tune = {v.name: v for v in expand(load_sweep(REPO / "experiments" / "tune.yaml"), REPO)}
    assert {v.parameters["model"] for v in tune.values()} == set(model_names()) - {
        "popularity"}  # popularity has nothing to tune
    assert {v.search.trials for v in tune.values()} == {20}  # the same budget for every model
    assert all(v.search.objective == "val_full_ndcg_at_10" for v in tune.values())
    assert all(v.parameters["trial"] for v in tune.values())  # trials never score test
    zoo = expand(load_sweep(REPO / "experiments" / "zoo.yaml"), REPO)
    assert len(zoo) == 2 * len(model_names()) * 3
    assert {v.parameters["model"] for v in zoo} == set(model_names())  # the whole zoo


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
    parameters: {model: popularity, register_model: false, save_model: false}
"""


def _kernels() -> list[psutil.Process]:
    children = psutil.Process().children(recursive=True)
    return [p for p in children if "ipykernel" in " ".join(p.cmdline())]


@pytest.mark.reliability
@pytest.mark.integration
def test_sweep_records_failure_runs_the_rest_and_resumes(workbench_env, tmp_path,
                                                          monkeypatch) -> None:
    data.prepare("toy", workbench_env)
    path = _write(tmp_path, TOY_SWEEP, "toy_sweep.yaml")
    last_status = {}
    done = StatusLines.done

    def spy(self, name):  # what each variant's kernel last reported, before it is removed
        file = self.files.get(name)
        last_status[name] = file.read_text() if file is not None and file.exists() else None
        done(self, name)

    monkeypatch.setattr(StatusLines, "done", spy)
    result = runner.invoke(app, ["experiments", "run", str(path), "-j", "2"])
    assert result.exit_code == 1, result.output
    # the training task's status lines reach the runner through WORKBENCH_PROGRESS_FILE
    assert last_status == {"overview": None, "popularity": "saving and logging the model",
                           "broken": None}
    assert not list((workbench_env.experiments_dir / "runs").rglob("*.progress"))
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
    assert re.fullmatch(r"sweep \S+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", parent.info.run_name)
    for variant in runs.index:
        artifacts = {a.path for a in client.list_artifacts(runs.loc[variant, "run_id"],
                                                           "notebook")}
        assert artifacts == {f"notebook/{variant}.ipynb"}
        assert (workbench_env.experiments_dir / "runs" / "toy_sweep" /
                f"{variant}.ipynb").is_file()
    popularity = client.get_run(runs.loc["popularity", "run_id"])
    assert popularity.data.params["params.damping"] == "5.0"  # the resolved config is logged
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
        except requests.RequestException:  # refused, or slow to answer while it starts
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


TUNE_SWEEP = """
experiment: toy-tune
notebook: 03_train_collaborative
parameters: {dataset: toy, trial: true, tuned: false}
search: {trials: 3, seed: 7}
variants:
  - name: knn
    parameters: {model: itemknn}
    grid: {params.weighting: [rating]}
    search:
      space:
        params.neighbours: {int: [2, 20]}
        params.shrinkage: {float: [0, 50]}
  - name: layers
    parameters: {model: mlp, params: {epochs: 2, batch_size: 64}}
    search:
      trials: 1
      space:
        params.mlp_layers: {choice: [[16, 8], [8, 4]]}
"""


@pytest.mark.integration
def test_a_tuning_study_runs_trials_as_child_runs_and_resumes(workbench_env, tmp_path) -> None:
    import optuna

    from workbench.experiments.results import study_results, write_tuned
    from workbench.experiments.search import TAG_STUDY

    data.prepare("toy", workbench_env)
    path = _write(tmp_path, TUNE_SWEEP, "toy_tune.yaml")
    result = runner.invoke(app, ["experiments", "run", str(path), "-j", "2"])
    assert result.exit_code == 0, result.output
    assert "study: 3 trials, best val_full_ndcg_at_10" in result.output
    spec = load_sweep(path)
    client = mlflow.MlflowClient()
    runs = mlflow.search_runs(experiment_names=["toy-tune"], output_format="list",
                              filter_string=f"tags.`{TAG_STUDY}` != ''")
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        metrics = run.data.metrics
        assert "val_full_ndcg_at_10" in metrics
        assert not [m for m in metrics if m.startswith("test_")]  # a trial never sees test
        assert client.get_run(run.data.tags[TAG_PARENT]).data.tags["workbench.sweep_parent"]
    layers = [r for r in runs if r.data.tags["workbench.variant"].startswith("layers/")]
    assert layers[0].data.params["params.mlp_layers"] in ("[16, 8]", "[8, 4]")  # decoded
    studies = {r["variant"]: r for r in study_results(spec)}
    best = studies["knn.params.weighting=rating"]
    assert best["trials_complete"] == 3
    trial_values = [r.data.metrics["val_full_ndcg_at_10"] for r in runs
                    if r.data.tags["workbench.variant"].startswith("knn.")]
    assert best["best_value"] == pytest.approx(max(trial_values))  # chosen on validation
    assert studies["layers"]["best_params"]["params.mlp_layers"] in ([16, 8], [8, 4])

    again = run_sweep(spec, workbench_env, progress=False)  # resume: nothing left to run
    assert {o.status for o in again.outcomes} == {"SKIPPED"}
    storage = workbench_env.optuna_uri
    name = best["study"]
    optuna.load_study(study_name=name, storage=storage).ask()  # an interrupted trial
    spec.search.trials = 4  # a bigger budget adds trials to the same study
    more = run_sweep(spec, workbench_env, only=["knn.params.weighting=rating"], progress=False)
    assert [o.variant for o in more.outcomes] == ["knn.params.weighting=rating/trial-004",
                                                  "knn.params.weighting=rating (study)"]
    states = [t.state.name for t in optuna.load_study(study_name=name,
                                                      storage=storage).trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1

    [written] = write_tuned(study_results(spec), spec, workbench_env)
    assert written == workbench_env.experiments_dir / "tuned" / "toy.yaml"
    import yaml

    tuned = yaml.safe_load(written.read_text())
    assert tuned["mlp"]["epochs"] == 2 and tuned["mlp"]["mlp_layers"] in ([16, 8], [8, 4])
    assert set(tuned["itemknn"]) == {"neighbours", "shrinkage", "weighting"}
    shown = runner.invoke(app, ["experiments", "best", str(path)])
    assert shown.exit_code == 0 and "knn.params.weighting=rating: best" in shown.output
    parent = client.get_run(runs[0].data.tags[TAG_PARENT])
    assert "knn.params.weighting_rating.best_value" in parent.data.metrics
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "studies")} >= {
        "studies/knn.params.weighting_rating.json", "studies/knn.params.weighting_rating.png"}


def test_write_tuned_nests_dotted_keys(tmp_path) -> None:
    import yaml

    from workbench.experiments.results import write_tuned

    settings = Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")
    spec = load_sweep(_write(tmp_path, "experiment: x\nnotebook: 03_train_collaborative\n"
                                       "variants: [{name: a}]\n", "t.yaml"))
    results = [{"dataset": "toy", "model": "blend", "fixed_params": {
        "members": {"ease": 1.0, "itemknn": 0.5}}, "best_params": {
        "params.members.itemknn": 0.8, "params.members.content_knn": 0.2}}]
    [path] = write_tuned(results, spec, settings)
    doc = yaml.safe_load(path.read_text())
    assert doc == {"blend": {"members": {"ease": 1.0, "itemknn": 0.8, "content_knn": 0.2}}}


def test_only_takes_a_variant_or_a_variant_group() -> None:
    from workbench.experiments.sweeps import _selected

    spec = load_sweep(REPO / "experiments" / "zoo.yaml")
    variants = expand(spec, REPO)
    assert len(_selected(spec, variants, ["peers"])) == 2 * 7 * 3
    one = _selected(spec, variants, ["keras.seed=1,dataset=movies,model=mf", "peers"])
    assert len(one) == 2 * 7 * 3 + 1
    with pytest.raises(SweepError, match=r"no variant\(s\) \['pee'\]"):
        _selected(spec, variants, ["pee"])  # a prefix of a group name is not a group


@pytest.mark.reliability
def test_runs_left_running_by_a_killed_sweep_are_marked_killed(workbench_env) -> None:
    """A parent (and its child) whose sweep process is gone are KILLED at the next sweep's
    start; a live sweep's runs and a run of another host are left alone."""
    import socket
    import subprocess

    from workbench import tracking
    from workbench.experiments.sweeps import TAG_RUNNER, TAG_SWEEP_PARENT, mark_orphaned_runs

    experiment = tracking.set_experiment("orphans", workbench_env)
    client = mlflow.MlflowClient(workbench_env.mlflow_uri)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    host = socket.gethostname()

    def parent(runner: str) -> str:
        return client.create_run(experiment, tags={TAG_SWEEP_PARENT: "true",
                                                   TAG_RUNNER: runner}).info.run_id

    dead, alive, remote = parent(f"{host}:{gone.pid}"), parent(f"{host}:{os.getpid()}"), \
        parent("elsewhere:1")
    child = client.create_run(experiment, tags={TAG_PARENT: dead}).info.run_id
    live_child = client.create_run(experiment, tags={TAG_PARENT: alive}).info.run_id
    assert mark_orphaned_runs(client, experiment) == 2
    status = {r: client.get_run(r).info.status for r in (dead, child, alive, live_child, remote)}
    assert status == {dead: "KILLED", child: "KILLED", alive: "RUNNING",
                      live_child: "RUNNING", remote: "RUNNING"}


@pytest.mark.reliability
@pytest.mark.integration
@pytest.mark.parametrize("moment", ["worker_starting", "kernel_running"])
def test_ctrl_c_stops_a_parallel_sweep_cleanly(workbench_env, tmp_path, moment) -> None:
    """Ctrl-C on `-j 2`: one line, exit code 130, no worker tracebacks, no kernel left, the
    runs and the parent marked KILLED (nothing stays RUNNING); a rerun resumes. Pressed
    while a worker is still importing (CI once saw its KeyboardInterrupt traceback) and
    while a notebook kernel runs."""
    import signal
    import subprocess
    import time

    data.prepare("toy", workbench_env)
    path = _write(tmp_path, TOY_SWEEP, "toy_sweep.yaml")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "experiments", "run",
                             str(path), "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    kernels: list[psutil.Process] = []
    workers: list[psutil.Process] = []
    while time.monotonic() < deadline and proc.poll() is None and not kernels:
        family = psutil.Process(proc.pid).children(recursive=True)
        kernels = [p for p in family if "ipykernel" in " ".join(p.cmdline())]
        workers = [p for p in family if "spawn_main" in " ".join(p.cmdline())]
        if moment == "worker_starting" and workers:
            break
        time.sleep(0.05 if moment == "worker_starting" else 0.2)
    assert proc.poll() is None, "the sweep ended before a worker or kernel started"
    assert workers or kernels
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert "interrupted" in err and "marked KILLED" in err
    time.sleep(1)
    assert not [k for k in kernels if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
    client = mlflow.MlflowClient(workbench_env.mlflow_uri)
    experiment = client.get_experiment_by_name("toy-sweep")
    runs = client.search_runs([experiment.experiment_id])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    assert any(r.info.status == "KILLED" for r in runs)


def test_status_lines_show_running_variants_beside_the_bar(tmp_path) -> None:
    """What running variants last reported, joined and cut to the width, refreshed by a
    thread; a finished variant's line and file go away."""
    import time

    class Bar:
        disable = False
        def __init__(self) -> None:
            self.shown: list[str] = []

        def set_postfix_str(self, text, refresh=True):
            self.shown.append(text)

    bar = Bar()
    status = StatusLines(bar, interval=0.05, width=40)
    (tmp_path / "a.progress").write_text("stale line from an earlier run")
    status.add("stage/a", tmp_path / "a.progress")
    status.add("b", tmp_path / "b.progress")
    assert status.text() == ""  # the stale file was removed; b has written nothing yet
    (tmp_path / "a.progress").write_text("selection fit: epoch 3/20\n")
    (tmp_path / "b.progress").write_text("refit on 1,000 rows")
    assert status.text() == "a: selection fit: epoch 3/20; b: refi..."
    deadline = time.monotonic() + 5
    while not bar.shown and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bar.shown[-1] == status.text()
    status.done("stage/a")
    assert not (tmp_path / "a.progress").exists()
    assert status.text() == "b: refit on 1,000 rows"
    status.close()
    assert not (tmp_path / "b.progress").exists() and not status._thread.is_alive()
    # too wide: the grid keys' names go first, so the epoch count stays readable
    wide = StatusLines(bar, width=60)
    wide.add("zoo/keras.seed=1,dataset=movies,model=neumf", tmp_path / "c.progress")
    (tmp_path / "c.progress").write_text("refit: epoch 6/12, val NDCG@10 0.0512")
    assert wide.text() == "1,movies,neumf: refit: epoch 6/12, val NDCG@10 0.0512"
    wide.close()


def test_a_progress_file_that_cannot_be_written_never_fails_a_training(tmp_path) -> None:
    """The status line is a courtesy: no progress file set writes nothing; one that cannot
    be written (here a folder) is skipped; a normal one holds the last line only."""
    from workbench import tracking

    home = tmp_path / "home"
    tracking.progress_reporter(Settings(home=home, data_mirror=home / "none"))("epoch 1/2")
    assert not list(tmp_path.rglob("*.progress"))
    blocked = tmp_path / "blocked.progress"
    blocked.mkdir()
    report = tracking.progress_reporter(Settings(home=home, data_mirror=home / "none",
                                                 progress_file=blocked))
    report("epoch 1/2")  # no error
    good = tmp_path / "good.progress"
    report = tracking.progress_reporter(Settings(home=home, data_mirror=home / "none",
                                                 progress_file=good))
    report("epoch 1/2")
    report("epoch 2/2\nwith a second line")
    assert good.read_text() == "epoch 2/2 with a second line"
