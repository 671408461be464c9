"""Running sweeps (workbench.experiments.sweeps): a toy sweep with a failing variant, resume,
a real MLflow server, variant selection, and Ctrl-C."""

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

from tests.helpers import REPO, free_port, loopback_server
from tests.helpers.sweeps import TOY_SWEEP, write_sweep
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
from workbench.experiments.bookkeeping import TAG_ERROR, TAG_PARENT
from workbench.experiments.status import StatusLines
from workbench.settings import Settings

runner = CliRunner()


def _kernels() -> list[psutil.Process]:
    children = psutil.Process().children(recursive=True)
    return [p for p in children if "ipykernel" in " ".join(p.cmdline())]


@pytest.mark.reliability
@pytest.mark.integration
def test_sweep_records_failure_runs_the_rest_and_resumes(workbench_env, tmp_path,
                                                          monkeypatch) -> None:
    data.prepare("toy", workbench_env)
    path = write_sweep(tmp_path, TOY_SWEEP, "toy_sweep.yaml")
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
    forced = run_sweep(spec, workbench_env, only=["overview"], force=True, progress=False)
    rerun = forced.outcomes[0].run_id
    assert [o.status for o in forced.outcomes] == ["FINISHED"]
    listed = client.search_runs([parent.info.experiment_id],
                                filter_string="tags.`workbench.variant` = 'overview'")
    assert [r.info.run_id for r in listed] == [rerun]  # the earlier run stepped aside
    earlier = client.get_run(runs.loc["overview", "run_id"])
    assert earlier.info.lifecycle_stage == "deleted"
    assert earlier.data.tags["workbench.superseded_by"] == rerun
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
    spec = load_sweep(write_sweep(tmp_path, "experiment: served\nnotebook: 01_data_overview\n"
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
    path = write_sweep(tmp_path, "experiment: never-run\nnotebook: 01_data_overview\n"
                            "variants: [{name: a}]\n")
    result = runner.invoke(app, ["experiments", "compare", str(path)])
    assert result.exit_code == 1
    assert "has no runs in MLflow experiment 'never-run'" in result.output
    assert "workbench experiments run" in result.output
    missing = runner.invoke(app, ["experiments", "run", "no_such_sweep"])
    assert missing.exit_code == 1 and "no sweep 'no_such_sweep'" in missing.output
    assert "movies_default (movies-default)" in missing.output  # the sweeps there are


def test_a_broken_sweep_file_is_named_not_taken_for_a_missing_one(workbench_env) -> None:
    """`table NAME` where NAME is a sweep file with a YAML error: that error, not "no sweep
    or MLflow experiment"."""
    broken = workbench_env.experiments_dir / "broken.yaml"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("experiment: b\nvariants: [\n")
    result = runner.invoke(app, ["experiments", "table", "broken"])
    assert result.exit_code == 1
    assert "no sweep or MLflow experiment" not in result.output
    assert "broken.yaml" in result.output and "line" in result.output


def test_only_takes_a_variant_or_a_variant_group(tmp_path) -> None:
    from workbench.experiments.sweeps import _selected

    spec = load_sweep(REPO / "experiments" / "zoo.yaml")
    variants = expand(spec, REPO)
    assert len(_selected(spec, variants, ["peers"])) == 3 * 8 * 3  # movies, anime, ml1m
    one = _selected(spec, variants, ["keras.seed=1,dataset=movies,model=mf", "peers"])
    assert len(one) == 3 * 8 * 3 + 1
    with pytest.raises(SweepError, match=r"no variant\(s\) \['pee'\]"):
        _selected(spec, variants, ["pee"])  # a prefix of a group name is not a group
    ml1m = _selected(spec, variants, ["peers.dataset=ml1m", "keras.model=mf,dataset=ml1m"])
    assert len(ml1m) == 8 * 3 + 3  # some grid keys, in any order
    assert {v.name for v in ml1m} >= {"peers.dataset=ml1m,model=ease,seed=2",
                                      "keras.seed=3,dataset=ml1m,model=mf"}
    with pytest.raises(SweepError, match=r"\['keras.dataset=ml2m'\].*'peers', 'keras'"):
        _selected(spec, variants, ["keras.dataset=ml2m"])
    every = _selected(spec, variants, ["dataset=ml1m"])  # grid keys alone: every group's
    assert len(every) == 8 * 3 + 5 * 3 + 3
    assert {v.name.partition(".")[0] for v in every} == {"peers", "keras", "sequential"}
    assert len(_selected(spec, variants, ["seed=2,dataset=ml1m"])) == 8 + 5 + 1
    with pytest.raises(SweepError, match=r"\['dataset=ml2m'\]"):
        _selected(spec, variants, ["dataset=ml2m"])

    # dotted grid keys, values with dots, a top-level grid's group-less names
    own = load_sweep(write_sweep(tmp_path, """
experiment: sizes
notebook: 03_train_collaborative
parameters: {dataset: toy, model: mf}
variants:
  - name: paper
  - name: wide
    grid: {params.factors: [32, 64], params.lr: [0.001, 0.01]}
grid: {seed: [1, 2]}
"""))
    names = {v.name for v in expand(own, REPO)}
    assert {"wide.params.factors=32,params.lr=0.001", "seed=1"} <= names
    assert {v.name for v in _selected(own, expand(own, REPO), ["params.factors=32"])} == {
        "wide.params.factors=32,params.lr=0.001", "wide.params.factors=32,params.lr=0.01"}
    assert len(_selected(own, expand(own, REPO), ["wide.params.lr=0.001"])) == 2
    assert len(_selected(own, expand(own, REPO), ["params.lr=0.01,params.factors=64"])) == 1
    assert [v.name for v in _selected(own, expand(own, REPO), ["seed=2"])] == ["seed=2"]
    with pytest.raises(SweepError, match=r"\['params.lr=0'\].*\['paper', 'wide'\]"):
        _selected(own, expand(own, REPO), ["params.lr=0"])


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
    path = write_sweep(tmp_path, TOY_SWEEP, "toy_sweep.yaml")
    # the terminal's default Ctrl-C, also when the tests run from a background job (where a
    # shell starts them with SIGINT ignored, and a child would inherit that)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "experiments", "run",
                             str(path), "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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


def test_a_failed_supersede_is_a_note_not_the_end_of_the_sweep() -> None:
    """Marking a rerun's earlier run superseded is a convenience: a store error there is a
    note of the report, and the sweep's other variants go on."""
    from workbench.experiments.sweeps import SweepReport, _Runner

    class Runs:
        def supersede(self, *args):
            raise RuntimeError("database is locked\nsecond line")

    sweep = _Runner.__new__(_Runner)
    sweep.runs, sweep.report = Runs(), SweepReport("zoo")
    sweep._supersede("a", "h1", "run")
    assert sweep.report.notes == ["a: its earlier run was not marked superseded "
                                  "(RuntimeError: database is locked)"]
