"""Collaborative models on the toy dataset: each overfits, scoring, persistence, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.collaborative import (
    MODEL_KINDS,
    CollabConfig,
    CollaborativeError,
    CollaborativeModel,
    train,
)
from workbench.data.toy import make_toy
from workbench.evaluation import full_ranking, ranking_metrics, rating_prediction, sampled_ranking


@pytest.fixture(scope="module")
def toy():
    tables = make_toy()
    return tables.items, tables.interactions


def _config(model: str, **kw) -> CollabConfig:
    base = dict(dataset="toy", model=model, epochs=25, patience=25, factors=8,
                mlp_layers=(32, 16, 8), lr=0.01, batch_size=64)
    return CollabConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", [k for k in MODEL_KINDS if k != "popularity"])
def test_each_model_overfits_the_toy_dataset(toy, kind) -> None:
    items, inter = toy
    model = train(_config(kind), inter, items["item_id"].to_numpy())
    rankings = {u: model.recommend(u, 10, exclude_seen=False)["item_id"].tolist()
                for u in inter["user_id"].unique()}
    relevant = {u: set(g["item_id"]) for u, g in inter.groupby("user_id")}
    metrics = ranking_metrics(rankings, relevant, 10)
    assert metrics["hr_at_10"] > 0.95
    assert metrics["precision_at_10"] > 0.7  # most of the top 10 are the user's own items
    assert model.history["loss"][-1] < model.history["loss"][0]


def test_recommend_excludes_training_items_and_scores_in_batch(toy) -> None:
    items, inter = toy
    model = train(_config("gmf", epochs=3), inter, items["item_id"].to_numpy())
    user = int(inter["user_id"].iloc[0])
    seen = set(inter.loc[inter["user_id"] == user, "item_id"])
    recs = model.recommend(user, k=10)
    assert not seen & set(recs["item_id"]) and len(recs) == 10
    assert recs["score"].is_monotonic_decreasing
    scores = model.score(user, recs["item_id"].tolist())
    np.testing.assert_allclose(scores, recs["score"].to_numpy(), rtol=1e-5)


def test_unknown_user_item_and_bad_k_are_clear_errors(toy) -> None:
    items, inter = toy
    model = train(_config("popularity"), inter, items["item_id"].to_numpy())
    with pytest.raises(CollaborativeError, match="unknown user 999"):
        model.recommend(999)
    with pytest.raises(CollaborativeError, match=r"unknown item id\(s\) \[424242\]"):
        model.score(int(inter["user_id"].iloc[0]), [424242])
    with pytest.raises(CollaborativeError, match="k must be a positive integer"):
        model.recommend(int(inter["user_id"].iloc[0]), k=0)


@pytest.mark.parametrize("kind", ["popularity", "neumf"])
def test_save_and_load_round_trip(toy, tmp_path, kind) -> None:
    items, inter = toy
    model = train(_config(kind, epochs=2), inter, items["item_id"].to_numpy())
    model.save(tmp_path / "m")
    model.save(tmp_path / "m")  # replacing a previous version works
    loaded = CollaborativeModel.load(tmp_path / "m")
    user = int(inter["user_id"].iloc[3])
    pd.testing.assert_frame_equal(model.recommend(user, 5), loaded.recommend(user, 5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    with pytest.raises(CollaborativeError, match="is missing"):
        CollaborativeModel.load(tmp_path / "nothing")
    (tmp_path / "m" / "ids.npz").write_bytes(b"broken")
    with pytest.raises(CollaborativeError, match="is corrupt"):
        CollaborativeModel.load(tmp_path / "m")


def test_protocols_on_toy(toy) -> None:
    from workbench.data.splits import leave_last_out

    items, inter = toy
    is_test = leave_last_out(inter, seed=0)
    train_df, test_df = inter[~is_test], inter[is_test]
    pop = train(_config("popularity"), train_df, items["item_id"].to_numpy())
    sampled = sampled_ranking(pop, test_df, k=10, negatives=20)  # 50-item catalog
    full = full_ranking(pop, test_df, k=10,
                        item_popularity=train_df.groupby("item_id").size())
    assert 0 <= sampled["sampled_hr_at_10"] <= 1 and full["full_users_evaluated"] == 30
    assert sampled["sampled_hr_at_10"] >= full["full_hr_at_10"]  # sampling flatters
    neumf = train(_config("neumf"), train_df, items["item_id"].to_numpy())
    assert full_ranking(neumf, test_df, k=10)["full_hr_at_10"] > full["full_hr_at_10"]
    explicit = train(_config("mf", objective="explicit", epochs=40), train_df,
                     items["item_id"].to_numpy())
    rating = rating_prediction(explicit, test_df, train_df)
    assert rating["rmse"] < rating["rmse_global_mean"]


def test_is_trained_matches_the_exact_config(toy, tmp_path) -> None:
    from workbench.collaborative import is_trained, model_dir

    items, inter = toy
    config = _config("popularity")
    assert not is_trained(config, tmp_path)
    train(config, inter, items["item_id"].to_numpy()).save(model_dir(config, tmp_path))
    assert is_trained(config, tmp_path)
    assert not is_trained(config.model_copy(update={"seed": 7}), tmp_path)
    assert model_dir(config, tmp_path) == tmp_path / "toy" / "collaborative" / "popularity-implicit"


def test_same_seed_gives_the_same_metrics(toy) -> None:
    """Reproducibility, stated tolerance: 1e-6 on scores with the same seed on the CPU."""
    from workbench.data.splits import leave_last_out

    items, inter = toy
    is_test = leave_last_out(inter, seed=0)
    runs = [train(_config("neumf", epochs=4, seed=seed), inter[~is_test],
                  items["item_id"].to_numpy()) for seed in (5, 5, 6)]
    user = int(inter["user_id"].iloc[0])
    ids = items["item_id"].to_numpy()
    a, b, c = (r.score(user, ids) for r in runs)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, c, atol=1e-6)  # the seed matters
    metrics = [full_ranking(r, inter[is_test], k=10)["full_ndcg_at_10"] for r in runs[:2]]
    assert metrics[0] == pytest.approx(metrics[1], abs=1e-6)


@pytest.mark.integration
def test_explicit_model_beats_the_global_mean_on_real_ratings(real_data) -> None:
    from workbench import data

    split = data.load_split("movies", "random_holdout", real_data)
    model = train(CollabConfig(dataset="movies", model="mf", objective="explicit", epochs=4,
                               batch_size=1024, lr=0.005), split.train,
                  data.load_items("movies", real_data)["item_id"].to_numpy())
    rating = rating_prediction(model, split.test, split.train)
    assert rating["rmse"] < rating["rmse_global_mean"] - 0.02
    assert rating["mae"] < rating["mae_global_mean"]
