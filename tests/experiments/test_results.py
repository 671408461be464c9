"""Results read back from MLflow (workbench.experiments.results): the significance table, one
row per variant, one objective per table."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from workbench import WorkbenchError, tracking
from workbench.settings import Settings

runner = CliRunner()


@pytest.fixture
def home(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")


def test_significance_table_pairs_users_and_marks_the_best(home) -> None:
    """Model a beats b on most of 60 users; c equals a: p(b) small, p(c) = 1."""
    from workbench.experiments import results_table

    rng = np.random.default_rng(0)
    users = np.arange(60)
    base = rng.random(60)
    per_model = {"a": base, "b": np.clip(base - 0.3 * rng.random(60), 0, 1), "c": base}
    for model, values in per_model.items():
        for seed in (1, 2):
            with tracking.start_run("test-significance", params={"dataset": "toy",
                                                                 "model": model, "seed": seed},
                                    settings=home):
                tracking.log_metrics({"test_full_ndcg_at_10": float(values.mean()),
                                      "test_full_recall_at_10": 0.5})
                mlflow.log_text(pd.DataFrame({"user_id": users, "ndcg_at_10": values})
                                .to_csv(index=False), "test_per_user.csv")
    table = results_table("test-significance", ("dataset", "model"), settings=home)
    table = table.set_index("model")
    assert table.loc["a", "n"] == 2
    assert table.loc["a", "p_vs_best"] == "best"  # a and c tie: the first is the best
    assert float(table.loc["b", "p_vs_best"]) < 1e-6
    assert table.loc["c", "p_vs_best"] == "1.0"
    assert table.loc["a", "test_full_ndcg_at_10"] == f"{base.mean():.4f} ± 0.0000"


def test_a_rerun_variant_replaces_its_earlier_run_in_the_table(home) -> None:
    """A sweep variant run again with tuned values is one seed, not two: the table keeps
    each variant's latest run (runs outside sweeps all count)."""
    from workbench.experiments import results_table
    from workbench.experiments.bookkeeping import TAG_SWEEP, TAG_VARIANT

    for seed, value in ((1, 0.1), (2, 0.2), (1, 0.3)):  # seed 1 rerun with tuned values
        tags = {TAG_SWEEP: "zoo", TAG_VARIANT: f"keras.seed={seed},model=neumf"}
        with tracking.start_run("test-rerun", params={"dataset": "toy", "model": "neumf",
                                                      "seed": seed}, tags=tags, settings=home):
            tracking.log_metrics({"test_full_ndcg_at_10": value})
    with tracking.start_run("test-rerun", params={"dataset": "toy", "model": "neumf"},
                            settings=home):  # by hand, outside a sweep
        tracking.log_metrics({"test_full_ndcg_at_10": 0.4})
    table = results_table("test-rerun", ("dataset", "model"), settings=home,
                          significance=None)
    assert table.loc[0, "n"] == 3
    assert table.loc[0, "test_full_ndcg_at_10"].startswith("0.3000")  # (0.2 + 0.3 + 0.4) / 3


def test_mixed_objectives_are_refused_in_one_table(home) -> None:
    from workbench.experiments import results_table

    for objective in ("implicit", "explicit"):
        with tracking.start_run("test-mixed", params={"dataset": "toy", "model": "mf",
                                                      "objective": objective}, settings=home):
            tracking.log_metrics({"test_full_ndcg_at_10": 0.1})
    with pytest.raises(WorkbenchError, match=r"mix values of 'objective'.*--group-by"):
        results_table("test-mixed", ("dataset", "model"), settings=home)
    table = results_table("test-mixed", ("dataset", "model", "objective"), settings=home)
    assert len(table) == 2
