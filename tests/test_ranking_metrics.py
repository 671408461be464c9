"""Ranking metrics: hand-computed small cases and scikit-learn as the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from workbench.evaluation import (
    average_precision_at_k,
    beyond_accuracy,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    reciprocal_rank,
)


def test_hand_computed_case() -> None:
    ranked, relevant = [5, 1, 7, 3, 9], {1, 3, 4}
    assert hit_rate_at_k(ranked, relevant, 1) == 0 and hit_rate_at_k(ranked, relevant, 2) == 1
    assert precision_at_k(ranked, relevant, 4) == pytest.approx(2 / 4)
    assert recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    assert reciprocal_rank(ranked, relevant) == pytest.approx(1 / 2)
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / idcg)
    assert average_precision_at_k(ranked, relevant, 4) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert ndcg_at_k([], relevant, 5) == 0 and reciprocal_rank([2], relevant) == 0


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_matches_scikit_learn_on_random_data(seed) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items, k = 20, 50, 10
    truth = (rng.random((n_users, n_items)) < 0.1).astype(int)
    truth[truth.sum(1) == 0, 0] = 1  # every user has something relevant
    scores = rng.random((n_users, n_items))
    rankings = {u: np.argsort(-scores[u]).tolist() for u in range(n_users)}
    relevant = {u: set(np.flatnonzero(truth[u]).tolist()) for u in range(n_users)}
    ours = ranking_metrics(rankings, relevant, k)["ndcg_at_10"]
    assert ours == pytest.approx(ndcg_score(truth, scores, k=k))
    precision = np.mean([truth[u, rankings[u][:k]].sum() / k for u in range(n_users)])
    assert ranking_metrics(rankings, relevant, k)["precision_at_10"] == pytest.approx(precision)


def test_beyond_accuracy() -> None:
    popularity = pd.Series({1: 8, 2: 4, 3: 1})
    out = beyond_accuracy({10: [1, 2], 11: [1, 3]}, popularity, n_items=6, k=2)
    assert out["coverage_at_2"] == pytest.approx(3 / 6)
    assert out["popularity_bias_at_2"] == pytest.approx((8 + 4 + 8 + 1) / 4)
    assert out["novelty_at_2"] == pytest.approx(np.mean([0, 1, 0, 3]))
