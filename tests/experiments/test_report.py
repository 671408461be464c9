"""`workbench report`: the results page is written from what MLflow holds, not typed."""

from __future__ import annotations

import mlflow
from typer.testing import CliRunner

from workbench import tracking
from workbench.cli import app
from workbench.experiments.bookkeeping import TAG_SWEEP, TAG_VARIANT
from workbench.experiments.report import markdown_table


def _run(experiment: str, settings, params: dict, metrics: dict, tags: dict | None = None):
    with tracking.start_run(experiment, params=params, tags=tags or {}, settings=settings):
        mlflow.log_metrics(metrics)


def test_the_report_shows_what_the_store_holds(workbench_env, tmp_path) -> None:
    for seed, value in ((1, 0.0511), (2, 0.0533)):
        _run("zoo", workbench_env, {"dataset": "movies", "model": "ease", "seed": seed},
             {"test_full_ndcg_at_10": value, "val_full_ndcg_at_10": 0.06})
    _run("movies-default", workbench_env, {"dataset": "movies", "model": "ease"},
         {"val_full_ndcg_at_10": 0.0664, "test_full_ndcg_at_10": 0.0538},
         {TAG_SWEEP: "movies_default", TAG_VARIANT: "zoo.model=ease"})
    out = tmp_path / "results.md"
    result = CliRunner().invoke(app, ["report", "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| movies | ease | 2 | 0.0522 ± 0.0016 |" in text  # mean ± sample std of the runs
    assert "| zoo.model=ease | FINISHED | 0.0664 | 0.0538 |" in text
    assert "| neumf.dataset=anime | not in this store |" in text
    assert "do not edit by hand" in text and "`experiments/mlflow.db`" in text


def test_an_empty_store_says_so(workbench_env, tmp_path) -> None:
    out = tmp_path / "results.md"
    assert CliRunner().invoke(app, ["report", "--output", str(out)]).exit_code == 0
    text = out.read_text()
    assert "_No zoo runs yet" in text and "_No default sweep has run yet" in text


def test_markdown_cells_are_escaped() -> None:
    import pandas as pd

    table = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [float("nan")], "c": [0.123456]}))
    assert table.splitlines()[2] == "| x\\|y |  | 0.1235 |"


def test_synthetic_datasets_are_left_out_by_their_spec(settings) -> None:
    """The default sweeps section skips generated data by the dataset spec's ``synthetic``
    flag, not by name; an unknown or missing dataset is simply not synthetic."""
    from workbench.experiments.report import _synthetic

    assert _synthetic("toy", settings)
    assert not _synthetic("movies", settings)
    assert not _synthetic("no-such-dataset", settings)
    assert not _synthetic(None, settings)
