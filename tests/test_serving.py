"""The hybrid recommender as an MLflow model: registered from a toy home, loaded through
MLflow, served by MLflow's own server; the same answers as the in-process Recommender, and a
bad request is a 4xx with one line."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from tests.helpers import free_port, loopback_server, port_open
from workbench import tracking
from workbench.hybrid import Recommender
from workbench.serving import OUTPUT_COLUMNS, log_hybrid
from workbench.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(toy_home) -> Settings:
    settings = toy_home("serving-home", "ease")
    assert "registered as champion" in log_hybrid("toy", settings)
    return settings


@pytest.fixture(scope="module")
def model(served):
    tracking.configure(served)
    return mlflow.pyfunc.load_model("models:/toy-hybrid@champion")


def test_the_served_model_answers_like_the_recommender(served, model) -> None:
    requests = pd.DataFrame([{"query": "time machine paradox", "user_id": 1, "k": 5},
                             {"item_id": 1001, "box": "content", "k": 3},
                             {"user_id": 2, "box": "feed", "k": 4},
                             {"query": "haunted crypt", "liked": "1001,1002", "k": 3,
                              "box": "ai_pick", "alpha": 0.5}])
    out = model.predict(requests)
    assert list(out.columns) == OUTPUT_COLUMNS
    rec = Recommender.load("toy", served)
    expected = {
        (0, "content"): rec.content_match("time machine paradox", None, 5),
        (0, "ai_pick"): rec.ai_pick("time machine paradox", None, 1, 5),
        (1, "content"): rec.content_match(None, 1001, 3),
        (2, "feed"): rec.personalized_feed(2, 4),
        (3, "ai_pick"): rec.ai_pick("haunted crypt", None, None, 3, 0.5, liked=[1001, 1002]),
    }
    got = {key: frame for key, frame in out.groupby(["request", "box"])}
    assert set(got) == set(expected)
    for key, result in expected.items():
        assert got[key]["item_id"].tolist() == result.item_ids, key
        assert got[key]["score"].round(6).tolist() == result.frame["score"].round(6).tolist()


def test_the_dashboard_shows_what_the_served_model_answers(served, model) -> None:
    """The dashboard's own widgets (its default loader: this home's champion) and the
    served model, given the same request, show the same items in the same order in the
    content match, the AI pick and the "For you" feed."""
    import re

    from workbench.dashboard import Dashboard

    board = Dashboard(datasets=["toy"], settings=served)
    assert board.ready.wait(120), "the warm-up never finished"
    board.user.value = "1"
    board.alpha.value = 0.5
    board.k.value = 5
    board.max_per_franchise.value = 2
    board.query.value = "time machine paradox"  # Enter in "describe a plot" mode
    assert "answered in" in board.status.value, board.status.value
    request = {"query": "time machine paradox", "user_id": 1, "k": 5, "alpha": 0.5,
               "max_per_franchise": 2}
    out = pd.concat([model.predict(pd.DataFrame([request])),
                     model.predict(pd.DataFrame([{**request, "box": "feed"}]))])

    def cards(html: str) -> list[int]:
        return [int(i) for i in re.findall(r'data-item="(\d+)"', html)]

    for box, html in (("content", board.content_box.value), ("ai_pick", board.ai_box.value),
                      ("feed", board.feed_box.value)):
        served_ids = out.loc[out["box"] == box].sort_values("rank")["item_id"].tolist()
        assert served_ids and cards(html) == served_ids, box


@pytest.mark.parametrize(("request_", "message"), [
    ({"query": "   "}, "empty"),
    ({"query": "x", "user_id": 987654, "box": "ai_pick"}, "unknown user 987654"),
    ({"query": "x", "box": "sideways"}, "box must be one of"),
    ({"query": "x", "k": 0}, "k"),
    ({"query": "x", "k": 2.5}, "k must be a whole number"),
    ({"query": "x", "liked": "a,b", "box": "ai_pick"}, "liked must be comma-separated"),
    ({"box": "content"}, "give query"),
    ({"query": "x", "box": "ai_pick"}, "ai_pick needs user_id or liked"),
])
def test_a_bad_request_is_an_invalid_parameter_error(model, request_, message) -> None:
    with pytest.raises(MlflowException, match=message) as caught:
        model.predict(pd.DataFrame([request_]))
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "\n" not in caught.value.message


def test_logging_again_keeps_the_alias_until_the_champion_changes(served, capfd,
                                                                   tmp_path) -> None:
    """An unchanged champion and index keep the alias; a forced log registers a new version,
    and with ``quiet_log`` what MLflow prints goes to that file, not the terminal."""
    assert "already" in log_hybrid("toy", served)
    capfd.readouterr()
    log = tmp_path / "serving.log"
    assert "v2 registered as champion" in log_hybrid("toy", served, force=True, quiet_log=log)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert "Created version '2' of model 'toy-hybrid'" in log.read_text()
    print("the terminal is back")
    assert capfd.readouterr().out == "the terminal is back\n"


def _post(port: int, records: list[dict]) -> tuple[int, dict]:
    body = json.dumps({"dataframe_records": records}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body,
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read(), parse_constant=_not_json)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read(), parse_constant=_not_json)


def _not_json(constant: str):
    raise AssertionError(f"the answer holds {constant}, which is not JSON")


@pytest.mark.slow
def test_mlflow_models_serve_answers_over_http(served) -> None:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": served.mlflow_uri,
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"}
    command = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "models", "serve",
               "-m", "models:/toy-hybrid@champion", "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port)]
    with loopback_server("mlflow models serve", command, lambda: port_open(port), env=env,
                         timeout_s=180):
        status, answer = _post(port, [{"query": "time machine", "user_id": 1, "k": 3},
                                      {"item_id": 1001, "box": "content", "k": 2}])
        assert status == 200, answer
        rows = pd.DataFrame(answer["predictions"])
        assert rows.groupby(["request", "box"]).size().to_dict() == {
            (0, "ai_pick"): 3, (0, "content"): 3, (1, "content"): 2}
        status, answer = _post(port, [{"query": "x", "user_id": 987654, "box": "ai_pick"}])
        assert status == 400, answer
        assert "unknown user 987654" in answer["message"]
        assert "Traceback" not in json.dumps(answer)


def test_staging_fills_the_folder_whatever_the_environment_says(served, tmp_path,
                                                                 monkeypatch) -> None:
    """What serving packs goes under the staged folder, never where ``WORKBENCH_*`` variables
    point this process's own folders (a user's models)."""
    from workbench.serving import serving_facts, stage_home

    elsewhere = tmp_path / "elsewhere"
    for name in ("MODELS_DIR", "DATA_DIR", "DATASETS_DIR", "EXPERIMENTS_DIR"):
        monkeypatch.setenv(f"WORKBENCH_{name}", str(elsewhere / name.lower()))
    staged = tmp_path / "staged"
    stage_home("toy", served, staged, serving_facts("toy", served))
    assert (staged / "models" / "toy" / "content" / "index.npz").is_file()
    assert (staged / "models" / "toy" / "collaborative" / "champion" / "config.json").is_file()
    assert (staged / "data" / "processed" / "toy" / "items.parquet").is_file()
    assert not elsewhere.exists()
