"""Runs, locks and requests (issue 26): a registration killed mid-way, two pipelines on one
home, a damaged (empty) MLflow store, a copied home's "Default" experiment, a sweep notebook
looked up in the current directory, and hostile requests to the served model.

The served model is called through MLflow's own scoring function
(``mlflow.pyfunc.scoring_server.invocations``: the JSON parsing, the frame and the error
body of ``mlflow models serve``, without starting a server). A bad request must be HTTP 400
with one short line naming the field; a command's failure one ``error:`` line, no traceback,
no "unexpected".
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner

from tests.helpers import REPO
from workbench import tracking
from workbench.cli import app
from workbench.serving import (
    EXPERIMENT,
    MAX_QUERY_CHARS,
    MAX_REASON_CHARS,
    RequestError,
    log_hybrid,
)
from workbench.settings import Settings, get_settings

pytestmark = pytest.mark.integration


# --- the served model ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(toy_home) -> Settings:
    settings = toy_home("requests-home", "ease")
    assert "registered as champion" in log_hybrid("toy", settings)
    return settings


@pytest.fixture(scope="module")
def model(served):
    tracking.configure(served)
    return mlflow.pyfunc.load_model("models:/toy-hybrid@champion")


def _invoke(model, body: str) -> tuple[int, dict]:
    """What `mlflow models serve` answers to ``body`` (status, parsed JSON)."""
    from mlflow.pyfunc.scoring_server import invocations

    try:
        answer = invocations(body, "application/json", model, None)
    except MlflowException as exc:  # the server's handler turns it into this body
        return exc.get_http_status_code(), json.loads(exc.serialize_as_json())
    return answer.status, json.loads(answer.response)


def _records(*records: dict) -> str:
    return json.dumps({"dataframe_records": list(records)})


HUGE = "time travel " * 900_000  # about 10 MB: the probe's query

BAD_REQUESTS = {
    # id: (the request body, what the one line must contain)
    "misspelt-field": (_records({"query": "time travel", "usr_id": 1}), "'usr_id'"),
    "k-true": (_records({"query": "time travel", "k": True}), "k must be"),
    "k-nan": ('{"dataframe_records": [{"query": "time travel", "k": NaN}]}', "nan"),
    "k-nan-in-every-row": ('{"dataframe_records": [{"query": "a", "k": NaN}, '
                           '{"query": "b", "k": NaN}]}', "nan"),
    "alpha-true": (_records({"query": "x", "user_id": 1, "alpha": True}), "alpha"),
    "box-a-number": (_records({"query": "x", "box": 5}), "box must be text"),
    "query-a-number": (_records({"query": 5}), "query must be text"),
    "query-10-mb": (_records({"query": HUGE, "user_id": 1}),
                    f"the limit is {MAX_QUERY_CHARS:,}"),
    "liked-not-ids": (_records({"query": "x", "liked": "a" * 50_000}), "liked"),
    "liked-infinity": ('{"dataframe_records": [{"query": "x", "liked": [Infinity]}]}',
                       "liked must be"),
    "liked-a-fraction": (_records({"query": "x", "liked": [1.7]}), "liked must be"),
    "liked-true": (_records({"query": "x", "liked": [True]}), "liked must be"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_is_400_with_one_short_line(model, case) -> None:
    body, expected = BAD_REQUESTS[case]
    started = time.perf_counter()
    status, answer = _invoke(model, body)
    assert status == 400, answer
    message = answer["message"]
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert expected in message, message
    assert "\n" not in message and len(message) < 400, message[:1000]
    assert "Failed to predict" not in message and "Traceback" not in json.dumps(answer)
    assert time.perf_counter() - started < 30  # refused before any work


def test_the_known_fields_are_named_when_one_is_misspelt(model) -> None:
    _, answer = _invoke(model, _records({"query": "time travel", "usr_id": 1}))
    for field in ("query", "item_id", "user_id", "liked", "k", "alpha", "box"):
        assert field in answer["message"]


def test_a_field_left_out_of_one_row_of_a_batch_is_not_a_nan(model) -> None:
    """In a batch, a field one row gives and another leaves out is NaN in the other row's
    frame cell: that row gets the default, not a refusal."""
    status, answer = _invoke(model, _records({"query": "time travel", "k": 2},
                                             {"query": "time travel"}))
    assert status == 200, answer
    counts = {}
    for row in answer["predictions"]:
        counts[row["request"]] = counts.get(row["request"], 0) + 1
    _, alone = _invoke(model, _records({"query": "time travel"}))
    assert counts == {0: 2, 1: len(alone["predictions"])}
    assert counts[1] > 2


def test_a_query_at_the_limit_is_answered_with_short_reasons(model) -> None:
    query = ("a time machine in a haunted crypt " * 40)[:MAX_QUERY_CHARS]
    status, answer = _invoke(model, _records({"query": query, "k": 3, "box": "content"}))
    assert status == 200, answer
    reasons = [row["reason"] for row in answer["predictions"]]
    assert len(reasons) == 3
    assert all(len(r) <= MAX_REASON_CHARS for r in reasons), reasons
    assert all(r.endswith("…") for r in reasons)
    assert len(json.dumps(answer)) < 3_000


def test_mlflows_rewrite_of_the_message_is_ignored() -> None:
    """MLflow's scoring server rewrites the message of the error a model raises to
    ``Failed to predict data '<the frame>'. \\nError: ...``; ours stays the one line."""
    error = RequestError("k must be a positive integer, got 0")
    error.message = f"Failed to predict data 'a frame\nof rows'. \nError: {error.message}"
    assert json.loads(error.serialize_as_json())["message"] == (
        "k must be a positive integer, got 0")
    assert error.get_http_status_code() == 400


def _dead_runner() -> str:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs, as after kill -9
    return f"{socket.gethostname()}:{gone.pid}"


def test_a_registration_killed_mid_way_is_marked_killed_by_the_next(served) -> None:
    """kill -9 during `register-hybrid` (or the pipeline's registration) leaves its run in
    `hybrid-serving` RUNNING: the next registration marks it KILLED. A registration still
    running (a live process) and another host's are left alone; a run from before runs were
    tagged with their process counts as abandoned after an hour."""
    experiment = tracking.set_experiment(EXPERIMENT, served)
    client = mlflow.MlflowClient(served.mlflow_uri)

    def running(tags: dict, started: float | None = None) -> str:
        start = None if started is None else int(started * 1000)
        return client.create_run(experiment, start_time=start, run_name="toy-hybrid",
                                 tags=tags).info.run_id

    killed = running({tracking.TAG_RUNNER: _dead_runner()})
    live = running({tracking.TAG_RUNNER: tracking.runner_id()})
    remote = running({tracking.TAG_RUNNER: "elsewhere:1"})
    untagged_old = running({}, started=time.time() - 2 * 3600)
    untagged_new = running({})
    assert "already" in log_hybrid("toy", served)
    status = {run: client.get_run(run).info.status
              for run in (killed, live, remote, untagged_old, untagged_new)}
    assert status == {killed: "KILLED", live: "RUNNING", remote: "RUNNING",
                      untagged_old: "KILLED", untagged_new: "RUNNING"}
    for run in (live, remote, untagged_new):
        client.set_terminated(run, "FINISHED")


def test_a_version_logged_for_the_old_request_format_is_logged_again(served) -> None:
    """A version registered before unknown fields were refused (its input schema makes MLflow
    drop them) is replaced at the next registration, though the champion is the same."""
    client = mlflow.MlflowClient(served.mlflow_uri)
    current = client.get_model_version_by_alias("toy-hybrid", "champion")
    client.delete_model_version_tag("toy-hybrid", current.version, "serving_format")
    assert "registered as champion" in log_hybrid("toy", served)
    assert "already" in log_hybrid("toy", served)


# --- the command line ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def home(toy_home) -> Path:
    return toy_home("runs-home", "ease").home


@pytest.fixture
def cli(home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(home / "none"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _one_error(result, *expected: str) -> str:
    output = result.output
    assert result.exit_code != 0, output
    assert "Traceback" not in output and "unexpected" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for phrase in expected:
        assert phrase in errors[0], output
    return output


def test_an_unknown_user_is_refused_before_anything_is_printed(cli) -> None:
    output = _one_error(cli.invoke(app, ["recommend", "-d", "toy", "-q", "time travel",
                                         "--user", "987654"]), "987654")
    assert output.splitlines()[0].startswith("error:"), output
    assert "Content match" not in output


def test_an_empty_mlflow_store_is_refused_as_damaged(cli, home) -> None:
    """A 0-byte `experiments/mlflow.db` is a store cut short (its runs are gone), not a new
    one: named in one line with what to do, and left as it is."""
    store = home / "experiments" / "mlflow.db"
    store.parent.mkdir(parents=True, exist_ok=True)
    saved = store.read_bytes() if store.exists() else None
    store.write_bytes(b"")
    past = time.time() - 60  # written a minute ago: not a store another process is creating
    os.utime(store, (past, past))
    try:
        _one_error(cli.invoke(app, ["experiments", "table", "toy_default"]), str(store),
                   "empty (0 bytes)", ".damaged")
        assert store.stat().st_size == 0
    finally:
        if saved is None:
            store.unlink()
        else:
            store.write_bytes(saved)


def test_a_second_pipeline_on_a_home_stops_naming_the_first(cli, home) -> None:
    """Two pipelines on one home would train every variant twice: the second stops at once
    with the first one's pid; once the first is gone, the lock is free (the operating
    system's lock: a killed pipeline leaves none behind)."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\n"
         "from workbench.settings import Settings\n"
         "from workbench.tasks.pipeline import pipeline_lock\n"
         f"with pipeline_lock(Settings(home={str(home)!r})):\n"
         "    print('held', flush=True)\n"
         "    sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        _one_error(cli.invoke(app, ["pipeline", "-d", "toy"]),
                   f"another pipeline is running on this home (pid {holder.pid},")
        assert time.perf_counter() - started < 30  # it does not wait or start any work
    finally:
        holder.kill()  # as kill -9
        holder.wait()
    from workbench.tasks.pipeline import pipeline_lock

    settings = Settings(home=home)
    with pipeline_lock(settings):
        assert (settings.runs_dir / "pipeline.owner").read_text().startswith(
            f"pid {os.getpid()},")
    assert not (settings.runs_dir / "pipeline.owner").exists()  # names no finished pipeline


def test_a_sweep_runs_no_notebook_from_the_current_directory(cli, tmp_path,
                                                             monkeypatch) -> None:
    """A notebook "beside the sweep file" is looked up beside the sweep file (and in
    notebooks/), never in whatever folder the command runs from."""
    from workbench.experiments import expand, load_sweep

    notebook = REPO / "notebooks" / "01_data_overview.ipynb"
    here, sweeps = tmp_path / "cwd", tmp_path / "sweeps"
    here.mkdir()
    sweeps.mkdir()
    shutil.copy(notebook, here / "stray.ipynb")
    sweep = sweeps / "stray.yaml"
    sweep.write_text("experiment: x\nnotebook: stray\nvariants: [{name: a}]\n")
    monkeypatch.chdir(here)
    _one_error(cli.invoke(app, ["experiments", "run", str(sweep), "--dry-run"]), "'stray'",
               "not found")
    shutil.copy(notebook, sweeps / "stray.ipynb")  # beside the sweep file: found there
    variants = expand(load_sweep(sweep))
    assert [v.notebook for v in variants] == [(sweeps / "stray.ipynb").resolve()]


# --- the MLflow store ----------------------------------------------------------------------

def test_a_copied_home_keeps_default_experiment_artifacts_inside(tmp_path, monkeypatch) -> None:
    """MLflow creates the "Default" experiment with its artifacts in ./mlruns of the folder
    the first command ran in; a copied home points it into its own experiments folder, so a
    run logged there (no experiment named) never writes into the old home."""
    import sqlite3

    monkeypatch.chdir(tmp_path)
    old = Settings(home=tmp_path / "old")
    with tracking.start_run("portable", settings=old):
        pass
    with sqlite3.connect(old.experiments_dir / "mlflow.db") as db:  # as homes made before
        db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                   (str(tmp_path / "mlruns" / "0"),))
    shutil.copytree(tmp_path / "old", tmp_path / "new")
    new = Settings(home=tmp_path / "new")
    tracking.configure(new)
    client = mlflow.MlflowClient(new.mlflow_uri)
    location = client.get_experiment("0").artifact_location
    assert location.startswith(new.experiments_dir.as_uri() + "/"), location
    run = client.create_run("0")
    client.log_text(run.info.run_id, "kept", "note.txt")
    assert list((tmp_path / "new").rglob("note.txt"))
    assert not list((tmp_path / "old").rglob("note.txt"))
    assert not (tmp_path / "mlruns").exists()
