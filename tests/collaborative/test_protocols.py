"""The papers' sampled protocols (NCF, SASRec): candidates, caching and the metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import WorkbenchError
from workbench.collaborative.base import IdMap
from workbench.collaborative.protocols import (
    PROTOCOL_NAMES,
    PROTOCOLS,
    applies,
    draw_candidates,
    get_protocol,
    load_candidates,
    protocol_ranking,
)
from workbench.data.splits import leave_last_out


def _interactions(users: int = 60, items: int = 400, per_user: int = 40, seed: int = 0
                  ) -> pd.DataFrame:
    """Random interactions with timestamps (many equal ones, as MovieLens has), and a few
    items rated only by user 0 (below the SASRec protocol's 5-interaction filter)."""
    rng = np.random.default_rng(seed)
    rows = [(u, int(i), int(t)) for u in range(users)
            for i, t in zip(rng.choice(items, per_user, replace=False),
                            rng.integers(0, 10, per_user), strict=True)]
    rows += [(0, items + n, 99) for n in range(3)]  # rare items, user 0's latest
    rows += [(users, 1, 1), (users, 2, 2)]  # a user with 2 interactions
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return frame.assign(rating=1.0)


def _held_out(frame: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    return frame[leave_last_out(frame, seed)].reset_index(drop=True)


class Scorer:
    """A model known by its scoring interface: ``ids``, ``n_items`` and ``score_users``,
    scores given by ``score(user_ids, item_ids)`` (vectorised over pairs)."""

    def __init__(self, frame: pd.DataFrame, score) -> None:
        self.ids = IdMap(np.sort(frame["user_id"].unique()), np.sort(frame["item_id"].unique()))
        self.n_items = len(self.ids.items)
        self.score = score

    def score_users(self, users: np.ndarray) -> np.ndarray:
        u = np.repeat(self.ids.users[users], self.n_items)
        i = np.tile(self.ids.items, len(users))
        return np.asarray(self.score(u, i), np.float32).reshape(len(users), self.n_items)


@pytest.mark.parametrize("name", ["ncf", "sasrec"])
def test_negatives_are_never_rated_items_of_the_protocols_universe(name) -> None:
    frame = _interactions(items=150)
    protocol = get_protocol(name)
    cands = draw_candidates(frame, _held_out(frame), protocol, seed=3)
    rated = frame.groupby("user_id")["item_id"].apply(set)
    counts = frame["item_id"].value_counts()
    for row in cands.itertuples():
        assert len(row.negatives) == protocol.negatives
        assert not set(row.negatives.tolist()) & rated[row.user_id]
        assert (counts[row.negatives] >= protocol.min_item_interactions).all()
        if not protocol.replace:
            assert len(set(row.negatives.tolist())) == protocol.negatives
    evaluated = set(cands["user_id"])
    if name == "ncf":  # every user with 2+ interactions, the rare held-out item included
        assert evaluated == set(range(61)) and protocol.negatives == 99
    else:  # 3+ interactions, held-out item with 5+ interactions: user 0 (rare) and 60 out
        held = _held_out(frame)
        expected = set(held.loc[held["item_id"].map(counts) >= 5, "user_id"]) - {60}
        assert evaluated == expected and 0 not in expected and len(expected) > 50
        assert protocol.negatives == 100
        assert not np.isin(np.concatenate(cands["negatives"].to_list()), [400, 401, 402]).any()


def test_the_draw_is_fixed_by_the_seed() -> None:
    frame = _interactions()
    held = _held_out(frame)
    one = draw_candidates(frame, held, PROTOCOLS["ncf"], seed=5)
    two = draw_candidates(frame.sample(frac=1, random_state=1), held.iloc[::-1], PROTOCOLS[
        "ncf"], seed=5)
    other = draw_candidates(frame, held, PROTOCOLS["ncf"], seed=6)
    assert np.array_equal(np.stack(one["negatives"]), np.stack(two["negatives"]))
    assert not np.array_equal(np.stack(one["negatives"]), np.stack(other["negatives"]))


def test_a_user_who_rated_nearly_everything_gets_the_items_left() -> None:
    """Users 0-5 each leave exactly 99 of 200 items unrated, user 6 only 98: the first get
    exactly those 99 as NCF negatives, user 6 is not evaluated."""
    missing = {u: {(20 * u + j) % 200 for j in range(99 if u < 6 else 98)} for u in range(7)}
    rows = [(u, i) for u in range(7) for i in range(200) if i not in missing[u]]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(timestamp=0, rating=1.0)
    cands = draw_candidates(frame, _held_out(frame), PROTOCOLS["ncf"], seed=1)
    assert cands["user_id"].tolist() == [0, 1, 2, 3, 4, 5]
    for row in cands.itertuples():
        assert set(row.negatives.tolist()) == missing[row.user_id]


def test_perfect_random_constant_and_hand_ranked_scorers() -> None:
    frame = _interactions(users=400, items=300, per_user=30)
    held = _held_out(frame)
    cands = draw_candidates(frame, held, PROTOCOLS["sasrec"], seed=3)
    target = set(zip(held["user_id"], held["item_id"], strict=True))

    def perfect(users, items):
        return np.array([float((u, i) in target) for u, i in zip(users, items, strict=True)])

    metrics = protocol_ranking(Scorer(frame, perfect), cands, k=10)
    assert metrics["hr_at_10"] == metrics["ndcg_at_10"] == 1.0
    assert metrics["users_evaluated"] == len(cands) and metrics["users_skipped"] == 0

    rng = np.random.default_rng(0)
    rand = protocol_ranking(Scorer(frame, lambda u, i: rng.random(len(u))), cands, k=10)
    ndcg = sum(1 / np.log2(r + 1) for r in range(1, 11)) / 101  # 1 of 101 ranks equally likely
    assert rand["hr_at_10"] == pytest.approx(10 / 101, abs=0.05)
    assert rand["ndcg_at_10"] == pytest.approx(ndcg, abs=0.03)

    constant = protocol_ranking(Scorer(frame, lambda u, i: np.zeros(len(u))), cands, k=10)
    assert constant["hr_at_10"] == constant["ndcg_at_10"] == 0.0  # ties count against

    nan = protocol_ranking(Scorer(frame, lambda u, i: np.where(
        [(a, b) in target for a, b in zip(u, i, strict=True)], np.nan, 1.0)), cands, k=10)
    assert nan["hr_at_10"] == 0.0  # a NaN score for the held-out item never hits


class PairScorer(Scorer):
    """A model that scores (user, item) pairs itself, as the NCF models do."""

    def score_users(self, users: np.ndarray) -> np.ndarray:
        raise AssertionError("a pair scorer is asked for pairs")

    def score_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.score(self.ids.users[users], self.ids.items[items]), np.float32)


def test_a_pair_scorer_is_asked_for_pairs_and_agrees() -> None:
    frame = _interactions()
    cands = draw_candidates(frame, _held_out(frame), PROTOCOLS["ncf"], seed=3)

    def score(users, items):
        return np.sin(users * 7.0 + items * 0.37)

    assert protocol_ranking(PairScorer(frame, score), cands) == \
        protocol_ranking(Scorer(frame, score), cands)


def test_rank_three_gives_ndcg_one_half() -> None:
    frame = _interactions()
    cands = draw_candidates(frame, _held_out(frame), PROTOCOLS["ncf"], seed=3).head(1)
    pos, negs = int(cands["item_id"].iloc[0]), cands["negatives"].iloc[0]
    order = {int(negs[0]): 3.0, int(negs[1]): 2.0, pos: 1.0}  # the held-out item third

    def hand(users, items):
        return np.array([order.get(int(i), 0.0) for i in items])

    metrics = protocol_ranking(Scorer(frame, hand), cands, k=10)
    assert metrics["hr_at_10"] == 1.0 and metrics["ndcg_at_10"] == pytest.approx(0.5)
    assert protocol_ranking(Scorer(frame, hand), cands, k=2)["hr_at_2"] == 0.0
    unknown = cands.assign(user_id=10_000)
    assert protocol_ranking(Scorer(frame, hand), unknown, k=10)["users_skipped"] == 1


def test_candidates_are_cached_per_data_and_seed(tmp_path) -> None:
    frame = _interactions()
    held = _held_out(frame)
    first = load_candidates(tmp_path, frame, held, "ncf", "test", seed=4)
    path = tmp_path / "protocols" / "ncf-test.parquet"
    assert path.is_file() and (tmp_path / "protocols" / "ncf-test.json").is_file()
    again = load_candidates(tmp_path, frame, held, "ncf", "test", seed=4)
    assert np.array_equal(np.stack(first["negatives"]), np.stack(again["negatives"]))
    # the cache is read: a planted draw comes back
    planted = again.assign(negatives=[np.zeros(99, np.int64)] * len(again))
    planted.assign(negatives=planted["negatives"].map(list)).to_parquet(path, index=False)
    assert (np.stack(load_candidates(tmp_path, frame, held, "ncf", "test", 4)["negatives"])
            == 0).all()
    # another seed or other data draws again
    other = load_candidates(tmp_path, frame, held, "ncf", "test", seed=5)
    assert not (np.stack(other["negatives"]) == 0).all()
    path.write_bytes(b"garbled")
    assert len(load_candidates(tmp_path, frame.iloc[1:], held, "ncf", "test", 5)) == len(held)
    with pytest.raises(WorkbenchError, match="unknown sampled protocol 'bpr'; known: ncf"):
        load_candidates(tmp_path, frame, held, "bpr", "test", 5)
    with pytest.raises(WorkbenchError, match="part must be one of validation, test, got 'x'"):
        load_candidates(tmp_path, frame, held, "ncf", "x", 5)


def test_protocol_names_and_where_they_apply() -> None:
    assert PROTOCOL_NAMES == ("full", "ncf", "sasrec")
    assert applies(PROTOCOLS["ncf"], has_timestamps=False)
    assert not applies(PROTOCOLS["sasrec"], has_timestamps=False)
    assert applies(PROTOCOLS["sasrec"], has_timestamps=True)


def test_a_training_run_logs_the_protocols_with_shared_candidates(tmp_path) -> None:
    """The task logs val_/test_ ``ncf`` and ``sasrec`` HR@10 and NDCG@10 beside the full
    ranking; the candidates are drawn once, and a second model ranks the same ones."""
    from workbench import data
    from workbench.data.registry import register_spec
    from workbench.data.synth import SynthSize, write_synthetic
    from workbench.settings import Settings
    from workbench.tasks.collaborative import TrainTask, train_collaborative

    home = Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")
    result = write_synthetic("syn", SynthSize(400, 80, 4_000, seed=3), tmp_path / "syn")
    register_spec(result.spec_file, home)
    data.prepare("syn", home)
    first = train_collaborative(TrainTask(dataset="syn", model="popularity"), home, log=print)
    folder = home.processed_dir("syn") / "splits" / "protocols"
    drawn = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert sorted(drawn) == sorted(f"{n}-{part}.{ext}" for n in ("ncf", "sasrec")
                                   for part in ("test", "validation")
                                   for ext in ("json", "parquet"))
    second = train_collaborative(TrainTask(dataset="syn", model="itemknn", seed=2), home,
                                 log=print)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == drawn
    for run in (first, second):
        for name in ("val_ncf", "test_ncf", "val_sasrec", "test_sasrec"):
            assert 0 <= run.metrics[f"{name}_ndcg_at_10"] <= run.metrics[f"{name}_hr_at_10"]
            assert run.metrics[f"{name}_users_evaluated"] > 40
        assert run.metrics["test_ncf_hr_at_10"] > run.metrics["test_full_hr_at_10"]
    assert second.metrics["test_ncf_hr_at_10"] > 0.2  # better than chance (0.1)


def test_a_catalog_smaller_than_the_negatives_logs_no_protocol(toy_home) -> None:
    """The toy catalog has fewer than 99 items: no user can be ranked against 99 negatives,
    so no protocol metric is logged (rather than a misleading 0)."""
    from workbench.tasks.collaborative import TrainTask, train_collaborative

    run = train_collaborative(TrainTask(dataset="toy", model="popularity"), toy_home("few"),
                              log=print)
    assert "test_full_ndcg_at_10" in run.metrics
    assert not [name for name in run.metrics if "_ncf_" in name or "_sasrec_" in name]


def test_a_user_with_several_held_out_rows_gets_negatives_for_each() -> None:
    frame = _interactions(items=150)
    held = frame[frame["user_id"] == 3].head(2)
    cands = draw_candidates(frame, held, PROTOCOLS["ncf"], seed=1)
    rated = set(frame.loc[frame["user_id"] == 3, "item_id"])
    assert len(cands) == 2 and not any(set(n.tolist()) & rated for n in cands["negatives"])
