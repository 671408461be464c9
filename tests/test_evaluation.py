"""Retrieval metrics on hand-computed cases, and the team's query sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import REPO
from workbench import WorkbenchError, data
from workbench.evaluation import Query, genre_precision_at_k, load_queries, query_set_metrics


def test_query_metrics_hand_computed() -> None:
    ranked = {"q1": ["a", "x", "b", "y"], "q2": ["y", "z", "x", "c"]}

    def search(text: str, n: int) -> pd.DataFrame:
        return pd.DataFrame({"title": ranked[text][:n]})

    queries = [Query("q1", ("a", "b")), Query("q2", ("c", "d"))]
    metrics, table = query_set_metrics(queries, search, k=3)
    # q1: a and b in top 3 -> recall 1, first hit at 1; q2: c at rank 4 -> recall@3 0, rr 1/4
    assert metrics == pytest.approx({"recall_at_3": 0.5, "hit_at_3": 0.5, "mrr": (1 + 0.25) / 2})
    assert table["first_rank"].tolist() == [1, 4]


def test_genre_precision_hand_computed() -> None:
    items = pd.DataFrame({"item_id": [1, 2, 3], "genres": [["A"], ["A", "B"], ["C"]]})
    neighbours = {1: [2, 3], 2: [1, 3], 3: [1, 2]}

    def similar(item_id: int, k: int) -> pd.DataFrame:
        return pd.DataFrame({"item_id": neighbours[item_id][:k]})

    assert genre_precision_at_k(items, similar, k=2, sample=3) == pytest.approx((0.5 + 0.5 + 0) / 3)


def test_query_file_errors(tmp_path) -> None:
    bad = tmp_path / "q.yaml"
    bad.write_text("queries:\n  - query: ''\n    relevant: [x]\n")
    with pytest.raises(WorkbenchError, match="entry 0"):
        load_queries(bad)
    bad.write_text("queries: [\n")
    with pytest.raises(WorkbenchError, match="not valid YAML"):
        load_queries(bad)
    ok = tmp_path / "ok.yaml"
    ok.write_text("queries:\n  - query: ghosts\n    relevant: [Nope]\n")
    with pytest.raises(WorkbenchError, match=r"titles not in the catalog: \['Nope'\]"):
        load_queries(ok, pd.DataFrame({"title": ["Yes"]}))
    bad.write_text("queries:\n  - query: ghosts\n    split: train\n    relevant: [x]\n")
    with pytest.raises(WorkbenchError, match="entry 0: split must be one of validation, test"):
        load_queries(bad)
    with pytest.raises(WorkbenchError, match="has no 'test' queries"):
        load_queries(ok, split="test")
    with pytest.raises(WorkbenchError, match="query split must be one of"):
        load_queries(ok, split="valid")


@pytest.mark.integration
@pytest.mark.parametrize("name", ["movies", "anime"])
def test_team_query_sets_match_the_real_catalogs(real_data, name) -> None:
    items = data.load_items(name, real_data)
    path = REPO / "experiments" / "queries" / f"{name}.yaml"
    queries = load_queries(path, items)
    assert len(queries) >= 100
    assert len({q.query for q in queries}) == len(queries)
    validation, test = (load_queries(path, items, split=s) for s in ("validation", "test"))
    assert len(validation) + len(test) == len(queries)  # every query has a split
    assert abs(len(validation) - len(test)) <= 1
    if name == "anime":
        [tt] = [q for q in queries if q.query == "time travel thriller"]
        assert "Steins;Gate" in tt.relevant


def test_evaluation_at_scale_samples_users_and_bounds_the_score_block() -> None:
    from workbench import evaluation

    rows = pd.DataFrame({"user_id": np.repeat(np.arange(50), 2), "item_id": np.arange(100)})
    few = evaluation.sample_users(rows, 10, seed=3)
    assert few["user_id"].nunique() == 10 and len(few) == 20
    assert few.equals(evaluation.sample_users(rows, 10, seed=3))  # seeded
    assert evaluation.sample_users(rows, 50, seed=3) is rows

    class Wide:  # a catalog as wide as the score block: one user scored at a time
        def __init__(self) -> None:
            self.n_items, self.seen, self.blocks = evaluation.SCORE_BLOCK, {}, []

        def score_users(self, users):
            self.blocks.append(len(users))
            return np.zeros((len(users), 8), np.float32)

    model = Wide()
    evaluation.rank_users(model, [0, 1, 2], depth=3)
    assert model.blocks == [1, 1, 1]


def test_top_per_row_torch_and_numpy_agree(monkeypatch):
    """Past TORCH_TOPK_FROM items the selection runs in torch.topk: the same items as NumPy's
    argpartition (no ties), masked and NaN scores never selected."""
    from workbench import evaluation

    rng = np.random.default_rng(7)
    scores = rng.standard_normal((5, 3000)).astype(np.float32)
    scores[:, :40] = -np.inf  # seen items
    scores[0, 40:60] = np.nan
    expected = evaluation.top_per_row(scores.copy(), 100)
    monkeypatch.setattr(evaluation, "TORCH_TOPK_FROM", 1000)
    got = evaluation.top_per_row(scores.copy(), 100)
    assert got.shape == (5, 100)
    for row in range(5):
        assert set(got[row]) == set(expected[row])
        assert not set(got[row]) & set(range(60 if row == 0 else 40))
    assert evaluation.top_per_row(scores.copy(), 100).dtype.kind == "i"
