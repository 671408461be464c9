"""The bad-input cases of the reliability probe (issue 15), replayed through the CLI.

Each case runs a real command against a toy home with every artifact `make pipeline` leaves
(content index, a saved model, the champion copy). A case passes when the command either
succeeds or answers with an ``error:`` line (or click's usage error for an option out of its
range) that names the input; it never prints a traceback and never ends in an "unexpected"
error (the CLI's label for a bug). The damaged-file, kill and concurrency cases live beside
this module (`test_damaged_artifacts.py`, `test_moved_home.py`, and the sweep, heal and
cold-start tests); `pytest tests/reliability --collect-only -q` counts them all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.settings import get_settings

pytestmark = pytest.mark.integration

BIG = "99999999999999999999999"  # past int64
OK = None  # the command succeeds

CASES: list[tuple[str, list[str], str | None]] = [
    # (id, arguments, a phrase the answer must contain; OK = exit code 0)
    ("search-empty", ["content", "search", "toy", ""], "empty"),
    ("search-blank", ["content", "search", "toy", "   "], "empty"),
    ("search-k-zero", ["content", "search", "toy", "time travel", "-k", "0"], "k"),
    ("search-k-huge", ["content", "search", "toy", "time travel", "-k", "1000000000"], OK),
    ("search-negative-weight", ["content", "search", "toy", "x", "--lexical-weight", "-1"],
     "--lexical-weight"),
    ("search-unknown-dataset", ["content", "search", "nope", "x"], "unknown dataset"),
    ("search-invalid-utf8", ["content", "search", "toy", "caf\udce9 time"], "UTF-8"),
    ("similar-unknown-item", ["content", "similar", "toy", "987654"], "987654"),
    ("similar-past-int64", ["content", "similar", "toy", BIG], BIG),
    ("similar-k-huge", ["content", "similar", "toy", "1", "-k", "1000000000"], OK),
    ("build-latent-dim-0", ["content", "build", "toy", "--latent-dim", "0"], "latent-dim"),
    ("build-negative-tabular-weight", ["content", "build", "toy", "--tabular-weight", "-1"],
     "tabular-weight"),
    ("build-unknown-index-type", ["content", "build", "toy", "--index-type", "lsh"], "lsh"),
    ("prepare-negative-seed", ["data", "prepare", "toy", "--seed", "-1"], "--seed"),
    ("prepare-unknown-dataset", ["data", "prepare", "nope"], "unknown dataset"),
    ("summary-unknown-dataset", ["data", "summary", "nope"], "unknown dataset"),
    ("recommend-nothing-asked", ["recommend", "-d", "toy"], "--query"),
    ("recommend-unknown-user", ["recommend", "-d", "toy", "-q", "x", "--user", "987654"],
     "987654"),
    ("recommend-user-past-int64", ["recommend", "-d", "toy", "-q", "x", "--user", BIG], BIG),
    ("recommend-liked-not-ids", ["recommend", "-d", "toy", "-q", "x", "--liked", "a,b"],
     "--liked"),
    ("recommend-liked-unknown", ["recommend", "-d", "toy", "-q", "x", "--liked", "987654"],
     "987654"),
    ("recommend-unknown-item", ["recommend", "-d", "toy", "--item", "987654"], "987654"),
    ("recommend-k-zero", ["recommend", "-d", "toy", "-q", "x", "-k", "0"], "k"),
    ("recommend-unknown-strategy", ["recommend", "-d", "toy", "-q", "x", "--user", "1",
                                    "--strategy", "bogus"], "bogus"),
    ("recommend-alpha-out-of-range", ["recommend", "-d", "toy", "-q", "x", "--user", "1",
                                      "--alpha", "2"], "alpha"),
    ("recommend-unknown-model", ["recommend", "-d", "toy", "-q", "x", "--model", "nope"],
     "nope"),
    ("recommend-model-outside-models", ["recommend", "-d", "toy", "-q", "x", "--model",
                                        "../../../etc"], "../../../etc"),
    ("recommend-unknown-dataset", ["recommend", "-d", "nope", "-q", "x"], "unknown dataset"),
    ("recommend-query-and-user", ["recommend", "-d", "toy", "-q", "time travel", "--user",
                                  "1", "--feed"], OK),
    ("heal-negative-limit", ["items", "heal", "-d", "toy", "--limit", "-1"], "--limit"),
    ("heal-no-provider", ["items", "heal", "-d", "toy", "--limit", "1"], "toy"),
    ("add-no-provider", ["items", "add", "-d", "toy", "--title", "Heat"], "toy"),
    ("sweep-unknown", ["experiments", "run", "nope"], "nope"),
    ("table-unknown-sweep", ["experiments", "table", "nope"], "nope"),
    ("train-unknown-model", ["collaborative", "train", "toy", "--model", "nope"], "nope"),
    ("franchises-unknown-dataset", ["franchises", "nope"], "unknown dataset"),
    ("register-hybrid-unknown-dataset", ["register-hybrid", "-d", "nope"], "unknown dataset"),
]


@pytest.fixture(scope="module")
def home(toy_home) -> Path:
    return toy_home("probe-home", "ease").home


@pytest.fixture
def cli(home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(home / "none"))
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _check(result, expected: str | None) -> None:
    output = result.output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    if expected is OK:
        assert result.exit_code == 0, output
        return
    assert result.exit_code != 0, output
    assert "unexpected" not in output, output  # the CLI's label for a bug
    assert expected.lower() in output.lower(), output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 or "Invalid value" in output, output


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(cli, args, expected) -> None:
    _check(cli.invoke(app, args), expected)


SWEEPS = {
    "notebook-outside-notebooks": ("experiment: x\nnotebook: ../../../tmp/evil\n"
                                   "variants: [{name: a}]\n", "notebook"),
    "python-tag": ("experiment: !!python/object/apply:os.system [echo hi]\n"
                   "notebook: 03_train_collaborative\nvariants: [{name: a}]\n", "tag"),
    "not-a-mapping": ("- just\n- a list\n", "mapping"),
    "unknown-key": ("experiment: x\nnotebook: 03_train_collaborative\nbogus: 1\n"
                    "variants: [{name: a}]\n", "bogus"),
    "unknown-notebook-parameter": ("experiment: x\nnotebook: 03_train_collaborative\n"
                                   "parameters: {nonsense: 1}\nvariants: [{name: a}]\n",
                                   "nonsense"),
}


@pytest.mark.parametrize("case", list(SWEEPS))
def test_a_bad_sweep_file_is_refused(cli, tmp_path, case) -> None:
    text, expected = SWEEPS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    _check(cli.invoke(app, ["experiments", "run", str(path), "--dry-run"]), expected)


PATCHES = {
    "a-list": [1, 2, 3],
    "non-numeric-key": {"abc": {"fields": {"year": 2000}}},
    "null-fields": {"1": {"fields": None}},
    "year-text": {"1": {"fields": {"year": "abc"}}},
    "year-99999": {"1": {"fields": {"year": 99999}}},
    "vote-1e30": {"1": {"fields": {"vote_count": 1e30}}},
    "not-json": "{ this is not json",
}


@pytest.mark.parametrize("case", list(PATCHES))
def test_a_malformed_patch_file_never_breaks_search(cli, home, case) -> None:
    """Self-healing's patch file is user-editable: a wrong entry (or a whole file that is
    not an object of item ids) is skipped with a warning, search and recommend still answer;
    a heal, which would write the file, refuses a damaged one by name; the file is left as it
    was (nothing lost)."""
    path = home / "data" / "patches" / "toy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    value = PATCHES[case]
    text = value if isinstance(value, str) else json.dumps(value)
    path.write_text(text)
    try:
        _check(cli.invoke(app, ["content", "search", "toy", "time travel"]), OK)
        _check(cli.invoke(app, ["recommend", "-d", "toy", "-q", "time travel", "--user", "1"]),
               OK)
        if case in ("a-list", "not-json"):
            _check(cli.invoke(app, ["items", "heal", "-d", "toy", "--limit", "1"]),
                   "patch file")
        assert path.read_text() == text
    finally:
        path.unlink()


def test_a_damaged_mlflow_store_is_one_line_and_recommend_still_answers(cli, home) -> None:
    store = home / "experiments" / "mlflow.db"
    store.parent.mkdir(parents=True, exist_ok=True)
    saved = store.read_bytes() if store.exists() else None
    store.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8192)
    try:
        _check(cli.invoke(app, ["experiments", "table", "toy_default"]), "damaged")
        _check(cli.invoke(app, ["recommend", "-d", "toy", "-q", "time travel", "--user", "1"]),
               OK)
    finally:
        if saved is None:
            store.unlink()
        else:
            store.write_bytes(saved)
