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


def test_unknown_dataset_is_one_line_no_traceback(workbench_env) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "data", "prepare", "nope"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    expected = "error: unknown dataset 'nope'; known datasets: anime, movies, toy"
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
    assert [line.split()[0] for line in result.output.splitlines()] == ["movies", "anime", "toy"]
