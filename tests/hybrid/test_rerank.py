"""Re-ranking functions on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import evaluation
from workbench.hybrid import rerank


def test_minmax_and_ranks() -> None:
    assert rerank.minmax(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert rerank.minmax(np.array([5.0, 5.0])).tolist() == [1.0, 1.0]
    assert rerank.ranks(np.array([0.1, 0.9, 0.5])).tolist() == [3, 1, 2]


@pytest.mark.parametrize("strategy", rerank.STRATEGIES)
def test_alpha_one_is_content_order_and_zero_is_model_order(strategy) -> None:
    rng = np.random.default_rng(1)
    sim = np.sort(rng.random(50))[::-1]  # candidates arrive in content order
    sim[10:13] = sim[10]  # with ties
    pref = rng.random(50)
    pref[20:23] = pref[20]
    content = rerank.order_by(rerank.fuse_scores(sim, pref, 1.0, strategy), sim, pref, 1.0)
    assert content.tolist() == list(range(50))
    model = rerank.order_by(rerank.fuse_scores(sim, pref, 0.0, strategy), sim, pref, 0.0)
    assert model.tolist() == np.argsort(-pref, kind="stable").tolist()


def test_blend_weights_normalised_components() -> None:
    sim, pref = np.array([1.0, 0.5, 0.0]), np.array([0.0, 10.0, 20.0])
    assert np.allclose(rerank.fuse_scores(sim, pref, 0.5), [0.5, 0.5, 0.5])
    assert np.allclose(rerank.fuse_scores(sim, pref, 0.25), [0.25, 0.5, 0.75])
    with pytest.raises(ValueError, match="alpha"):
        rerank.fuse_scores(sim, pref, 1.5)
    with pytest.raises(ValueError, match="strategy"):
        rerank.fuse_scores(sim, pref, 0.5, "vote")


def test_cap_per_group_counts_and_exclusion() -> None:
    groups = ["a", "a", "b", "a", "c", "b"]
    kept, dropped = rerank.cap_per_group(range(6), groups, 1)
    assert kept == [0, 2, 4] and dropped == [1, 3, 5]
    kept, _ = rerank.cap_per_group(range(6), groups, 2)
    assert kept == [0, 1, 2, 4, 5]
    kept, dropped = rerank.cap_per_group(range(6), groups, None, exclude={"a"})
    assert kept == [2, 4, 5] and dropped == [0, 1, 3]
    with pytest.raises(ValueError, match="max_per_franchise"):
        rerank.cap_per_group(range(6), groups, 0)


def test_mmr_keeps_order_at_one_and_diversifies_below() -> None:
    # items 0 and 1 are near-duplicates; 2 is different but slightly less relevant
    vectors = np.array([[1, 0], [0.999, 0.045], [0, 1]], np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = np.array([1.0, 0.95, 0.9])
    assert rerank.mmr([0, 1, 2], relevance, vectors, 3, 1.0) == [0, 1, 2]
    assert rerank.mmr([0, 1, 2], relevance, vectors, 2, 0.5) == [0, 2]
    with pytest.raises(ValueError, match="mmr_lambda"):
        rerank.mmr([0], relevance, vectors, 1, 2.0)


def test_diversity_and_duplicate_rate() -> None:
    same = np.array([[1.0, 0.0], [1.0, 0.0]])
    orthogonal = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert evaluation.intra_list_diversity(same) == pytest.approx(0.0)
    assert evaluation.intra_list_diversity(orthogonal) == pytest.approx(1.0)
    assert evaluation.intra_list_diversity(same[:1]) == 0.0
    assert evaluation.duplicate_rate(["a", "a", "b", "a"]) == 0.5
    assert evaluation.duplicate_rate([]) == 0.0
