"""Per-segment metrics on small synthetic tables: who falls where, the means, the paired test
per segment and the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import plots, segments


def test_history_bins_are_fixed_and_inclusive() -> None:
    history = pd.Series([1, 5, 6, 20, 21, 50, 51, 100, 101, 200, 201, 5000])
    assert segments.history_segment(history).tolist() == [
        "1-5", "1-5", "6-20", "6-20", "21-50", "21-50", "51-100", "51-100", "101-200",
        "101-200", ">200", ">200"]
    assert segments.history_labels((3, 10)) == ["1-3", "4-10", ">10"]


def test_popularity_segments_by_share_of_more_popular_items() -> None:
    # 200 interactions: a 100 (nothing above it: head), b 60 (100 above = 50%: torso),
    # c and d 15 each (160 above = 80% for both, ties share: tail), e 6 (tail), f 4 (rare), g 0
    counts = pd.Series({"a": 100, "b": 60, "c": 15, "d": 15, "e": 6, "f": 4, "g": 0})
    assert segments.popularity_segment(counts).to_dict() == {
        "a": "head", "b": "torso", "c": "tail", "d": "tail", "e": "tail", "f": "rare",
        "g": "cold"}


def test_annotate_adds_history_and_the_held_out_items_segment() -> None:
    train = pd.DataFrame({"user_id": [1] * 10 + [2] * 3 + [3] * 30,
                          "item_id": [10] * 30 + [11] * 10 + [12] * 3})
    test = pd.DataFrame({"user_id": [1, 2, 3, 3], "item_id": [10, 12, 99, 10]})
    per_user = pd.DataFrame({"user_id": [1, 2, 3], "ndcg_at_10": [1.0, 0.0, 0.5]})
    out = segments.annotate(per_user, train, test).set_index("user_id")
    assert out["history"].tolist() == [10, 3, 30]
    assert out["user_segment"].tolist() == ["6-20", "1-5", "21-50"]
    assert out["item_segment"].tolist() == ["head", "rare", "mixed"]  # 3: cold 99 and head 10
    assert out["item_popularity"].tolist() == [30, 3, 0]  # the rarest held-out item
    assert out["ndcg_at_10"].tolist() == [1.0, 0.0, 0.5]


def _table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "user_id": np.arange(n),
        "ndcg_at_10": rng.random(n), "recall_at_10": rng.integers(0, 2, n).astype(float),
        "user_segment": np.where(np.arange(n) < n // 2, "1-5", ">200"),
        "item_segment": np.where(np.arange(n) % 4 == 0, "cold", "head")})


def test_segment_metrics_mean_and_count_per_segment_in_order() -> None:
    table = _table()
    out = segments.segment_metrics(table)
    assert out[["kind", "segment", "n"]].values.tolist() == [
        ["user_segment", "1-5", 20], ["user_segment", ">200", 20],
        ["item_segment", "head", 30], ["item_segment", "cold", 10]]  # empty ones left out
    cold = table[table["item_segment"] == "cold"]
    row = out.set_index("segment").loc["cold"]
    assert row["ndcg_at_10"] == pytest.approx(cold["ndcg_at_10"].mean())
    assert row["recall_at_10"] == pytest.approx(cold["recall_at_10"].mean())


def test_paired_test_per_segment_on_shared_users() -> None:
    best = _table()
    model = best.copy()
    young = model["user_segment"] == "1-5"
    model.loc[young, "ndcg_at_10"] -= 0.1 + 0.01 * np.arange(young.sum())  # always worse
    model = model.iloc[2:]  # two users the best has and this model has not
    tests = segments.paired_segment_tests(model, best).set_index("segment")
    assert tests.loc["1-5", "n"] == 18 and tests.loc["1-5", "p"] < 0.001
    assert tests.loc["1-5", "mean"] < tests.loc["1-5", "best_mean"]
    assert tests.loc[">200", "p"] == 1.0  # identical values: no difference
    assert segments.paired_p_value(pd.Series([1.0]), pd.Series([0.0])) is None


def test_segment_figure_has_one_group_per_segment() -> None:
    table = segments.segment_metrics(_table())
    fig = plots.plot_segments(table, title="toy")
    users, items = fig.axes
    assert [t.get_text().split("\n")[0] for t in users.get_xticklabels()] == ["1-5", ">200"]
    assert [t.get_text().split("\n")[0] for t in items.get_xticklabels()] == ["head", "cold"]
    assert len(items.patches) == 2
    two = pd.concat([table.assign(model="a"), table.assign(model="b")])
    fig = plots.plot_segments(two)
    assert len(fig.axes[1].patches) == 4  # a bar per model in each segment's group
    assert len(fig.axes[1].get_xticklabels()) == 2
