"""`workbench report`: the results page is written from what MLflow holds, not typed."""

from __future__ import annotations

import mlflow
import pytest
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
    _run("movies-default", workbench_env, {"dataset": "movies", "model": "gmf"},
         {"val_full_ndcg_at_10": 0.0401, "test_full_ndcg_at_10": 0.0301},
         {TAG_SWEEP: "movies_default", TAG_VARIANT: "zoo.model=gmf"})  # since left the file
    out = tmp_path / "results.md"
    result = CliRunner().invoke(app, ["report", "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "<!-- report: movies -->\n## movies\n" in text  # one section per dataset
    assert "| ease | 2 | 0.0522 ± 0.0016 |" in text  # mean ± sample std of the runs
    assert "| zoo.model=ease | FINISHED | 0.0664 | 0.0538 |" in text
    assert "zoo.model=gmf |" not in text
    assert "_Left out: the runs of 1 variant(s) no longer in `movies_default.yaml`" in text
    assert "_No tuning study of this dataset in this store._" in text
    assert "do not edit by hand" in text and "`experiments/mlflow.db`" in text
    assert "## anime" not in text  # a dataset the store does not hold gets no section


def test_a_report_keeps_the_sections_of_other_datasets(workbench_env, tmp_path) -> None:
    """Datasets run in different homes combine: a report rewrites the sections of the
    datasets its store holds (or those named by --dataset) and keeps the others verbatim."""
    out = tmp_path / "results.md"
    kept = ("<!-- report: anime -->\n## anime\n\nGenerated on 2026-12-02 04:29 from the MLflow "
            "store `elsewhere`.\n<!-- /report: anime -->\n")
    stale = "<!-- report: movies -->\n## movies\n\nold figures\n<!-- /report: movies -->\n"
    out.write_text("# Results\n\nan older header\n\n" + kept + "\n" + stale)
    _run("zoo", workbench_env, {"dataset": "movies", "model": "ease", "seed": 1},
         {"test_full_ndcg_at_10": 0.05})
    assert CliRunner().invoke(app, ["report", "--output", str(out)]).exit_code == 0
    text = out.read_text()
    assert kept in text and "old figures" not in text and "an older header" not in text
    assert text.index("## anime") < text.index("## movies")  # sorted by dataset
    result = CliRunner().invoke(app, ["report", "--output", str(out), "--dataset", "ml1m"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert kept in text and "| ease | 1 | 0.0500 |" in text  # movies kept this time
    assert "## ml1m" in text and "_No zoo runs of this dataset in this store._" in text


def test_an_unknown_dataset_is_refused_not_given_a_section(workbench_env, tmp_path) -> None:
    out = tmp_path / "results.md"
    out.write_text("<!-- report: anime -->\n## anime\n\nkept\n<!-- /report: anime -->\n")
    result = CliRunner().invoke(app, ["report", "--output", str(out), "--dataset", "ml1mm"])
    assert result.exit_code != 0
    assert "unknown dataset 'ml1mm'; known datasets:" in result.output
    assert "ml1m" in result.output and "Traceback" not in result.output
    assert out.read_text().count("## ") == 1 and "ml1mm" not in out.read_text()  # untouched


def test_an_empty_store_says_so(workbench_env, tmp_path) -> None:
    out = tmp_path / "results.md"
    assert CliRunner().invoke(app, ["report", "--output", str(out)]).exit_code == 0
    assert "_No results yet: no zoo run" in out.read_text()


def test_the_blend_is_judged_against_the_best_single_model() -> None:
    """The issue-27 bar: the blend at least 1.05x the best single model with p < 0.05."""
    import pandas as pd

    from workbench.experiments.report import blend_verdict

    def table(blend: str, p_single: str, p_blend: str = "best") -> pd.DataFrame:
        return pd.DataFrame({"model": ["blend", "ease", "popularity"],
                             "test_full_ndcg_at_10": [blend, "0.0500 ± 0.0010", "0.0200"],
                             "p_vs_best": [p_blend, p_single, "1e-9"]})

    assert "= **1.100x**, p = 0.01" in blend_verdict(table("0.0550 ± 0.0000", "0.01"))
    assert "**met**" in blend_verdict(table("0.0550 ± 0.0000", "0.01"))
    assert "**not met**" in blend_verdict(table("0.0550", "0.2"))  # not significant
    assert "**not met**" in blend_verdict(table("0.0510", "0.001"))  # 1.02x only
    worse = blend_verdict(table("0.0400", "best", "0.003"))  # ease is best: blend's p
    assert "(`ease`)" in worse and "0.800x" in worse and "p = 0.003" in worse
    assert "No blend" in blend_verdict(table("0.05", "1")[1:])


def test_the_blend_is_also_judged_against_the_best_model_it_can_hold() -> None:
    """When the best single model trains in epochs (which a blend refuses), the page adds the
    blend against the best model that could be a member, with that pair's own p-value."""
    import numpy as np
    import pandas as pd

    from workbench.experiments.report import _member_verdict

    users = np.arange(30)
    scores = {"r-blend": users / 100, "r-ease": users / 100 - 0.05, "r-sasrec": users / 10}
    runs = pd.DataFrame({"run_id": list(scores), "params.model": ["blend", "ease", "sasrec"]})

    def tables(run_id):
        return pd.DataFrame({"user_id": users, "ndcg_at_10": scores[run_id]})

    table = pd.DataFrame({"model": ["blend", "ease", "sasrec"],
                          "test_full_ndcg_at_10": ["0.1450", "0.0950", "1.4500"]})
    text = _member_verdict(table, runs, tables)
    assert "(`ease`; `sasrec` trains in epochs" in text and "**1.526x**" in text
    assert "p = 8.4e-07" in text  # every user ahead: paired, not the table's p_vs_best
    assert _member_verdict(table[table["model"] != "sasrec"], runs, tables) == ""  # ease best


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


def test_the_report_compares_the_zoo_per_segment(workbench_env, tmp_path) -> None:
    """Two models' per-user tables (two seeds each): the section shows each segment's mean,
    the best model marked, and a paired p-value per segment on the users both share."""
    import numpy as np
    import pandas as pd

    from workbench.experiments.segments import segment_comparison

    users = np.arange(40)
    young = users < 20  # "1-5": ease always worse there; ">200": the same as blend
    ndcg = {"blend": np.where(young, 0.5, 0.2) + 0.001 * users,
            "ease": np.where(young, 0.1, 0.2) + 0.001 * users * ~young}
    for model, values in ndcg.items():
        for seed in (1, 2):
            table = pd.DataFrame({"user_id": users, "ndcg_at_10": values,
                                  "recall_at_10": (values > 0.3).astype(float),
                                  "history": np.where(young, 3, 300),
                                  "user_segment": np.where(young, "1-5", ">200"),
                                  "item_segment": np.where(users % 2, "head", "tail")})
            with tracking.start_run("zoo", params={"dataset": "movies", "model": model,
                                                   "seed": seed}, settings=workbench_env):
                mlflow.log_metrics({"test_full_ndcg_at_10": float(values.mean())})
                mlflow.log_text(table.to_csv(index=False), "test_per_user.csv")
    long = segment_comparison("zoo", 10, workbench_env)["movies"].set_index(["model", "segment"])
    assert long.loc[("blend", "1-5"), "ndcg_at_10"] == pytest.approx(0.5 + 0.001 * 9.5)
    assert np.isnan(long.loc[("blend", "1-5"), "p_ndcg_at_10"])  # the best itself
    assert long.loc[("ease", "1-5"), "p_ndcg_at_10"] < 1e-3
    assert long.loc[("ease", ">200"), "p_ndcg_at_10"] == 1.0
    out = tmp_path / "results.md"
    result = CliRunner().invoke(app, ["report", "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "### The zoo by segment (test split)" in text
    assert "#### Test NDCG@10 by segment" in text
    assert "#### Test Recall@10 by segment" in text
    assert "| segment | n | blend (best) | ease |" in text
    assert "| users by history: >200 | 20 | 0.2295 | 0.2295 (p=1) |" in text


def test_an_older_per_user_table_is_segmented_from_the_split(workbench_env) -> None:
    """A table logged before the segment columns existed gets them from the dataset's split
    in the home; a dataset whose split is not there is named, not guessed."""
    import pandas as pd

    from workbench import WorkbenchError, data
    from workbench.experiments.segments import segment_comparison
    from workbench.segments import ITEM_LABELS, history_labels

    def log(dataset: str, users) -> None:
        table = pd.DataFrame({"user_id": users, "ndcg_at_10": 0.5, "recall_at_10": 1.0})
        with tracking.start_run("zoo", params={"dataset": dataset, "model": "ease"},
                                settings=workbench_env):
            mlflow.log_text(table.to_csv(index=False), "test_per_user.csv")

    log("movies", [1, 2, 3])
    with pytest.raises(WorkbenchError, match="'movies' have no segment columns"):
        segment_comparison("zoo", 10, workbench_env)
    data.prepare("toy", workbench_env)
    test = data.load_split("toy", "leave_last_out", workbench_env).test
    log("toy", test["user_id"].unique())
    long = segment_comparison("zoo", 10, workbench_env)["toy"]
    users = long[long["kind"] == "user_segment"]
    assert users["n"].sum() == test["user_id"].nunique()
    assert set(long["segment"]) <= {*history_labels(), *ITEM_LABELS}


def _zoo_run(settings, model: str, seed: int, values, variant: bool = True) -> None:
    """A zoo run with a per-user test table (40 users, segment columns), as a sweep
    variant of sweep 'zoo' (so a rerun of the variant replaces it)."""
    import numpy as np
    import pandas as pd

    users = np.arange(len(values))
    table = pd.DataFrame({"user_id": users, "ndcg_at_10": values, "recall_at_10": values,
                          "history": 30, "user_segment": "21-50",
                          "item_segment": np.where(users % 2, "head", "tail")})
    tags = {TAG_SWEEP: "zoo", TAG_VARIANT: f"peers.model={model},seed={seed}"} if variant else {}
    tuned = "-" if model == "blend" else "experiments/tuned/movies.yaml"
    with tracking.start_run("zoo", params={"dataset": "movies", "model": model, "seed": seed,
                                           "tuned_from": tuned}, tags=tags, settings=settings):
        mlflow.log_metrics({"test_full_ndcg_at_10": float(np.mean(values))})
        mlflow.log_text(table.to_csv(index=False), "test_per_user.csv")


def test_rows_of_two_stores_combine_through_the_archive(workbench_env, tmp_path,
                                                        monkeypatch) -> None:
    """The peers in one home, the blend in another: the second report reads the first's
    archive (docs/results/<dataset>.json + per-user tables) with its own store, so one table
    shows both, with p-values from the archived per-user tables; a variant rerun in the
    store replaces its archived run; an unreadable archive stops the report, named."""
    import numpy as np

    from workbench.settings import get_settings

    low = np.linspace(0.0, 0.2, 40)
    _zoo_run(workbench_env, "ease", 1, low)
    _zoo_run(workbench_env, "ease", 2, low + 0.5)  # replaced by its rerun below
    out = tmp_path / "docs" / "results.md"
    assert CliRunner().invoke(app, ["report", "--output", str(out)]).exit_code == 0
    archive = tmp_path / "docs" / "results"
    assert {p.name for p in archive.iterdir()} == {"movies.json", "movies.per_user.parquet"}
    assert "archive of earlier stores" not in out.read_text()  # all of it from the store

    second = tmp_path / "second-home"
    second.mkdir()
    monkeypatch.setenv("WORKBENCH_HOME", str(second))  # another home, an empty store
    get_settings.cache_clear()
    settings = get_settings()
    for seed in (1, 2):
        _zoo_run(settings, "blend", seed, low + 0.1)
    _zoo_run(settings, "ease", 2, low)  # the rerun of a variant the archive holds
    result = CliRunner().invoke(app, ["report", "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| blend | 2 | 0.2000 ± 0.0000 | best |" in text
    assert "| ease | 2 | 0.1000 ± 0.0000 | 1e-08 |" in text  # paired over the archived users
    assert "([`results/movies.json`](results/movies.json): 1 of the zoo's 4 runs)" in text
    assert "| users by history: 21-50 | 40 | 0.2000 | 0.1000 (p=1e-08) |" in text
    assert "Not tuned: `blend`; the zoo ran it with the declared defaults" in text
    assert ("Tuned by studies not on this page: `ease` ran with the values in "
            "`experiments/tuned/movies.yaml`") in text  # its study is in no store

    (archive / "movies.json").write_text("{not json")
    result = CliRunner().invoke(app, ["report", "--output", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the results archive" in result.output and "cannot be read" in result.output
    assert (archive / "movies.json").read_text() == "{not json"  # left for the user to mend
    assert "| blend | 2 | 0.2000 ± 0.0000 | best |" in out.read_text()  # the page untouched


def test_a_study_in_the_store_replaces_its_archived_row() -> None:
    from workbench.experiments.archive import merge_studies

    archived = [{"model": "ease", "trials finished": "20 of 20"},
                {"model": "bpr", "trials finished": "20 of 20"}]
    merged = merge_studies([{"model": "ease", "trials finished": "3 of 20"}], archived)
    assert merged == [{"model": "bpr", "trials finished": "20 of 20"},
                      {"model": "ease", "trials finished": "3 of 20"}]


def test_study_parameters_are_rounded_on_the_page() -> None:
    """Archived study rows hold their values unrounded; the page shows 4 significant digits
    and leaves integers, short decimals and names alone."""
    from workbench.experiments.report import _rounded

    shown = _rounded("params.l2=31.19890406724053, params.lr=1.2345678e-05, hidden=878, "
                     "w=0.25, m=v1.123456")
    assert shown == "l2=31.2, lr=1.235e-05, hidden=878, w=0.25, m=v1.123456"


def test_the_archive_is_the_same_whatever_order_mlflow_gives() -> None:
    """MLflow's column order varies between searches; the archive must not, so a report that
    adds nothing leaves docs/results/<dataset>.json as it was (no churn in git)."""
    import pandas as pd

    from workbench.experiments.archive import archived_runs

    runs = pd.DataFrame({"run_id": ["b", "a"], "params.seed": ["2", "1"],
                         "metrics.test_full_ndcg_at_10": [0.2, 0.1], "params.model": ["x", "x"],
                         "start_time": pd.to_datetime(["2026-12-05T02:00", "2026-12-05T01:00"],
                                                      utc=True)})
    first = archived_runs(runs, ("test_full_ndcg_at_10",))
    shuffled = archived_runs(runs[runs.columns[::-1]].iloc[::-1], ("test_full_ndcg_at_10",))
    assert first.to_json() == shuffled.to_json()
    assert list(first.columns[:3]) == ["run_id", "start_time", "metrics.test_full_ndcg_at_10"]
    assert list(first["run_id"]) == ["a", "b"]  # by start time
