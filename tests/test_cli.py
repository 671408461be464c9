"""The workbench CLI: --help everywhere, clean one-line errors, toy prepare + summary."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from workbench.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args", [["--help"], ["data", "--help"], ["data", "fetch", "--help"],
             ["data", "prepare", "--help"], ["data", "summary", "--help"], ["pipeline", "--help"]]
)
def test_help_everywhere(args) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.reliability
def test_unknown_dataset_is_one_line_no_traceback(workbench_env) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "data", "prepare", "nope"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    expected = ("error: unknown dataset 'nope'; known datasets: anime, ml1m, movies, toy (add "
                "your own with `workbench data add SPEC.yaml`)")
    assert proc.stderr.strip() == expected
    assert "Traceback" not in proc.stdout + proc.stderr


def test_summary_before_prepare_names_the_command(workbench_env) -> None:
    result = runner.invoke(app, ["data", "summary", "toy"])
    assert result.exit_code == 1
    assert "run `workbench data prepare toy`" in result.output


def test_prepare_and_summary_toy(workbench_env) -> None:
    result = runner.invoke(app, ["data", "prepare", "toy"])
    assert result.exit_code == 0, result.output
    assert "prepare report for toy" in result.output
    result = runner.invoke(app, ["data", "summary", "toy"])
    assert result.exit_code == 0, result.output
    assert "interactions" in result.output and "420" in result.output
    assert (workbench_env.processed_dir("toy") / "items.parquet").is_file()


def test_data_list() -> None:
    result = runner.invoke(app, ["data", "list"])
    assert [line.split()[0] for line in result.output.splitlines()] == ["movies", "anime", "ml1m",
                                                                         "toy"]


@pytest.mark.integration
def test_recommend_prints_both_lists_and_clean_errors(workbench_env, toy_template) -> None:
    from tests.helpers import fill_toy_home

    fill_toy_home(workbench_env, toy_template)
    from workbench.collaborative import CollaborativeModel

    model = CollaborativeModel.load(workbench_env.models_dir / "toy" / "collaborative" /
                                    "mf-implicit")
    user = str(int(model.ids.users[0]))
    base = ["recommend", "--dataset", "toy", "--model", "mf-implicit"]
    result = runner.invoke(app, [*base, "--query", "time travel murder", "--user", user, "-k",
                                 "3", "--feed"])
    assert result.exit_code == 0, result.output
    for heading in ("Content match", "AI pick", "For you"):
        assert heading in result.output
    assert f"for user {user}" in result.output and "match " in result.output
    cold = runner.invoke(app, [*base, "--item", "1001", "--liked", "1001, 3", "-k", "2",
                               "--max-per-franchise", "0"])
    assert cold.exit_code == 0, cold.output
    assert "for new user" in cold.output
    for args, message in [(["--query", "x", "--user", "999999"], "unknown user 999999"),
                          (["--query", "x", "--liked", "a,b"], "--liked must be"),
                          ([], "give --query or --item"),
                          (["--query", "x", "--user", user, "--alpha", "2"], "alpha")]:
        bad = runner.invoke(app, [*base, *args])
        assert bad.exit_code == 1 and message in bad.output, (args, bad.output)
        assert "Traceback" not in bad.output


def test_franchises_command_shows_groups(workbench_env) -> None:
    assert runner.invoke(app, ["data", "prepare", "toy"]).exit_code == 0
    result = runner.invoke(app, ["franchises", "toy", "paradox"])
    assert result.exit_code == 0, result.output
    assert "Paradox Loop  (2 items" in result.output and "Paradox Loop II" in result.output
    missing = runner.invoke(app, ["franchises", "toy", "zzz"])
    assert missing.exit_code == 1 and "matches 'zzz'" in missing.output


def test_experiments_table_without_finished_runs_is_a_clear_error(workbench_env) -> None:
    from workbench import tracking

    tracking.set_experiment("empty-experiment", workbench_env)
    result = runner.invoke(app, ["experiments", "table", "empty-experiment"])
    assert result.exit_code == 1
    assert "has no finished runs" in result.output


def test_content_search_takes_ranking_options(workbench_env) -> None:
    from workbench import data
    from workbench.content import ContentConfig, build_content_index

    data.prepare("toy", workbench_env)
    build_content_index(ContentConfig(dataset="toy", ae_epochs=5), workbench_env,
                        progress=False)
    base = ["content", "search", "toy", "a physicist travels back in time", "-k", "2"]
    fused = runner.invoke(app, base)
    dense = runner.invoke(app, [*base, "--dense-only"])
    assert fused.exit_code == dense.exit_code == 0, fused.output + dense.output
    assert "Paradox Loop" in fused.output and "Paradox Loop" in dense.output
    assert fused.output != dense.output  # the fused scores differ from plain cosines
    bad = runner.invoke(app, [*base, "--prior-weight", "-1"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


@pytest.mark.reliability
def test_results_with_a_missing_year_print(capsys) -> None:
    """308 anime have no year: a result list holding one prints it without a year (it was a
    `boolean value of NA is ambiguous` crash), and a year already in the title once."""
    import pandas as pd

    from workbench.cli.content import _print_results

    frame = pd.DataFrame({"rank": [1, 2], "score": [0.9, 0.8], "item_id": [3786, 7],
                          "title": ["No Year", "Hashire Melos (1981)"],
                          "year": pd.array([None, 1981], dtype="Int64")})
    _print_results(frame)
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("No Year  [3786]")
    assert out[1].endswith("Hashire Melos (1981)  [7]")


def test_an_unexpected_error_is_one_line_with_the_logged_traceback(workbench_env,
                                                                    monkeypatch) -> None:
    """A bug (here: a fake one) ends in one `error:` line naming the exception and the log
    that holds its traceback, never a traceback on the terminal."""
    import workbench.data

    def broken(*_args, **_kwargs):
        raise TypeError("boolean value of NA is ambiguous")

    monkeypatch.setattr(workbench.data, "prepare", broken)
    result = runner.invoke(app, ["data", "prepare", "toy"])
    assert result.exit_code == 1
    log = workbench_env.experiments_dir / "runs" / "errors.log"
    line = ("error: unexpected TypeError: boolean value of NA is ambiguous "
            f"(traceback: {log})")
    assert result.output.strip() == line
    assert "Traceback (most recent call last)" in log.read_text()
    assert 'raise TypeError("boolean value of NA is ambiguous")' in log.read_text()


def test_bad_option_values_are_one_line(workbench_env) -> None:
    result = runner.invoke(app, ["content", "build", "toy", "--latent-dim", "0"])
    assert result.exit_code == 1
    assert result.output.strip() == ("error: invalid option latent-dim: Input should be "
                                     "greater than 0 (got 0)")
    for args in (["data", "prepare", "toy", "--seed", "-1"],
                 ["items", "heal", "--dataset", "toy", "--limit", "-1"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Invalid value" in result.output, args
        assert "Traceback" not in result.output


def test_huge_user_ids_and_undecodable_queries_are_clear_errors() -> None:
    from workbench.content.engine import ContentEngine, ContentError
    from workbench.errors import is_int as _is_int

    assert _is_int(2**63 - 1) and not _is_int(2**63) and not _is_int(10**30)
    engine = ContentEngine.__new__(ContentEngine)  # the check comes before any model use
    with pytest.raises(ContentError, match="not valid UTF-8"):
        engine.query_vector("caf\udce9")


@pytest.mark.reliability
def test_a_damaged_mlflow_store_is_one_error_naming_the_fix(workbench_env) -> None:
    store = workbench_env.experiments_dir / "mlflow.db"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    result = runner.invoke(app, ["experiments", "table", "movies-default"])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: the MLflow store {store} is damaged")
    assert "mv " in result.output and "make pipeline" in result.output
    assert len(result.output.strip().splitlines()) == 1
