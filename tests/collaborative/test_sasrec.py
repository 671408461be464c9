"""SASRec: it learns an order that a model of sets cannot see, refuses data without
timestamps in one line, and scores the same after save and load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.collaborative import CollaborativeError, CollaborativeModel, make_config, train
from workbench.collaborative.base import IdMap, Interactions
from workbench.collaborative.models.sasrec import item_sequences

N_ITEMS = 40
PARAMS = {"maxlen": 16, "hidden": 32, "epochs": 15, "lr": 0.005, "batch_size": 64}


def _sequential(seed: int = 0, n_users: int = 240) -> pd.DataFrame:
    """Each user walks the circle of items from a random start, half of them upwards (i then
    i+1) and half downwards (i then i-1), in time order; rows shuffled. The set of a user's
    items is a contiguous arc whose two neighbours are equally likely next for a model that
    ignores order; only the order says which."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        start, length = rng.integers(N_ITEMS), rng.integers(6, 14)
        step = 1 if user % 2 else -1
        rows += [(user + 1, (start + step * t) % N_ITEMS + 1, 4.0, 1_000 * user + 10 * t)
                 for t in range(length)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    frame["timestamp"] = pd.array(frame["timestamp"], dtype="Int64")
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


def _last_out(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    latest = frame.sort_values("timestamp").groupby("user_id").tail(1)
    return frame.drop(latest.index), latest


def _hit_at_1(model: CollaborativeModel, test: pd.DataFrame) -> float:
    return float(np.mean([model.recommend(u, 1)["item_id"].iloc[0] == i
                          for u, i in zip(test["user_id"], test["item_id"], strict=True)]))


@pytest.fixture(scope="module")
def trained():
    train_rows, test = _last_out(_sequential())
    catalog = np.arange(1, N_ITEMS + 1)
    model = train(make_config(dataset="walks", model="sasrec", params=PARAMS), train_rows,
                  catalog)
    return model, train_rows, test, catalog


def test_sequences_are_each_users_latest_items_in_time_order() -> None:
    ids = IdMap(np.array([7, 8]), np.arange(10))
    data = Interactions(np.array([0, 0, 0, 1, 0]), np.array([5, 3, 9, 2, 4]),
                        np.ones(5, np.float32), 2, 10,
                        np.array([30.0, 10.0, 20.0, 5.0, 40.0]))
    assert len(ids.users) == 2
    # user 0: 3 (t=10), 9 (t=20), 5 (t=30), 4 (t=40); the latest 3, as index + 1, left-padded
    assert item_sequences(data, 3).tolist() == [[10, 6, 5], [0, 0, 3]]
    assert item_sequences(data, 5).tolist() == [[0, 4, 10, 6, 5], [0, 0, 0, 0, 3]]


def test_it_learns_the_direction_a_model_of_sets_cannot_see(trained) -> None:
    model, train_rows, test, catalog = trained
    assert _hit_at_1(model, test) > 0.8  # the next item on the user's walk comes first
    ease = train(make_config(dataset="walks", model="ease", params={"l2": 1.0}), train_rows,
                 catalog)
    assert _hit_at_1(ease, test) < 0.7  # without the order: either end of the arc


def test_states_are_the_networks_final_positions_and_follow_a_new_network(
        trained, monkeypatch) -> None:
    from workbench.collaborative.models import sasrec

    monkeypatch.setattr(sasrec, "_SCORE_BATCH", 100)  # 240 users: blocks of 100, 100 and 40
    model = trained[0]
    users = np.arange(len(model.ids.users))
    eager = np.asarray(model.network(model.sequences, training=False)[:, -1, :])
    np.testing.assert_allclose(model.user_states(users), eager, rtol=1e-5, atol=1e-6)
    weights = model.network.get_weights()
    try:  # a restored network (as after load) is traced anew, not the old one's graph
        model.network = model._build()
        np.testing.assert_allclose(
            model.user_states(users),
            np.asarray(model.network(model.sequences, training=False)[:, -1, :]),
            rtol=1e-5, atol=1e-6)
    finally:
        model.network.set_weights(weights)


def test_save_and_load_score_the_same(trained, tmp_path) -> None:
    model = trained[0]
    model.save(tmp_path / "sasrec")
    loaded = CollaborativeModel.load(tmp_path / "sasrec")
    users = np.arange(len(model.ids.users))
    np.testing.assert_array_equal(loaded.score_users(users), model.score_users(users))
    assert loaded.sequences.tolist() == model.sequences.tolist()


def test_a_dataset_without_timestamps_is_refused_in_one_line() -> None:
    rows = _sequential()
    rows["timestamp"] = pd.array([pd.NA] * len(rows), dtype="Int64")  # as anime's
    with pytest.raises(CollaborativeError) as caught:
        train(make_config(dataset="anime", model="sasrec", params=PARAMS), rows,
              np.arange(1, N_ITEMS + 1))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("sasrec needs each user's interactions in time order, and "
                              "dataset 'anime' has no timestamps")


def test_bad_parameters_are_clear_errors() -> None:
    with pytest.raises(CollaborativeError, match=r"params\.maxlen: Input should be greater"):
        make_config(dataset="movies", model="sasrec", params={"maxlen": 1})
    with pytest.raises(CollaborativeError, match=r"params\.dropout"):
        make_config(dataset="movies", model="sasrec", params={"dropout": 1.0})
    with pytest.raises(CollaborativeError, match=r"hidden \(50\) must be a multiple of heads "
                                                 r"\(3\)"):
        make_config(dataset="movies", model="sasrec", params={"heads": 3})
