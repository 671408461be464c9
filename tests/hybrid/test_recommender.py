"""The hybrid Recommender on the toy dataset: order at the alpha ends, components, franchise
filter, new users, the feed, loading (pipeline artifacts and the MLflow champion), errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import TOY_KERAS
from workbench import data, tracking
from workbench.collaborative import make_config, model_dir, train
from workbench.data.toy import PLANTED_PAIR
from workbench.hybrid import HybridConfig, Recommender, RecommenderError
from workbench.hybrid.recommender import RESULT_COLUMNS
from workbench.settings import Settings

QUERY = "a physicist travels back in time to stop a murder"
NO_FILTER = {"max_per_franchise": 0}


@pytest.fixture(scope="module")
def toy(toy_home) -> Settings:
    """Toy data, a saved content index and saved MF / popularity models (module-wide)."""
    return toy_home("hybrid-home")


@pytest.fixture(scope="module")
def rec(toy) -> Recommender:
    return Recommender.load("toy", toy, collaborative="mf-implicit")


@pytest.fixture(scope="module")
def user(rec) -> int:
    return int(rec.collaborative.ids.users[0])


def test_content_match_is_the_content_engines_order(rec) -> None:
    match = rec.content_match(query=QUERY, k=8, **NO_FILTER)
    assert match.item_ids == rec.content.search(QUERY, 8)["item_id"].tolist()
    assert list(match.frame.columns) == RESULT_COLUMNS
    assert match.frame["preference"].isna().all()
    # the cosine on the 0-1 scale of "more like this", and the place in the search ranking
    first = match.frame.iloc[0]
    assert first["reason"].startswith(f"plot similarity {first['cosine']:.2f} to “")
    assert first["reason"].endswith("· search #1") and 0 < first["cosine"] <= 1
    similar = rec.content_match(item_id=PLANTED_PAIR[0], k=5, **NO_FILTER)
    assert similar.item_ids == rec.content.similar(PLANTED_PAIR[0], 5)["item_id"].tolist()
    assert "plot similarity" in similar.frame["reason"].iloc[0]


def test_alpha_one_is_content_order_and_alpha_zero_model_order(rec, user) -> None:
    cands = rec.candidates(query=QUERY, user_id=user, candidates=30)
    n = len(cands.item_ids)
    content = rec.ai_pick(query=QUERY, user_id=user, k=n, alpha=1.0, candidates=30,
                          **NO_FILTER)
    assert content.item_ids == cands.item_ids.tolist()
    model = rec.ai_pick(query=QUERY, user_id=user, k=n, alpha=0.0, candidates=30, **NO_FILTER)
    scores = rec.collaborative.score(user, cands.item_ids)
    assert model.item_ids == cands.item_ids[np.argsort(-scores, kind="stable")].tolist()
    assert content.item_ids != model.item_ids  # the two ends differ on this data


def test_ai_pick_rows_carry_their_components(rec, user) -> None:
    pick = rec.ai_pick(query=QUERY, user_id=user, k=5, alpha=0.4, strategy="blend",
                       **NO_FILTER)
    frame = pick.frame
    assert list(frame.columns) == RESULT_COLUMNS
    expected = rec.collaborative.score(user, frame["item_id"].to_numpy())
    assert np.allclose(frame["preference"], expected, atol=1e-6)
    by_id = rec.content.search(QUERY, 50).set_index("item_id")["score"]
    assert np.allclose(frame["similarity"], by_id.loc[frame["item_id"]].to_numpy(), atol=1e-5)
    assert frame["score"].is_monotonic_decreasing and frame["score"].between(0, 1).all()
    assert f"for user {user}" in frame["reason"].iloc[0]
    seen = set(rec.collaborative.ids.items[rec.collaborative.seen[0]].tolist())
    assert not seen & set(frame["item_id"])  # the user's rated items are left out
    rrf = rec.ai_pick(query=QUERY, user_id=user, k=5, alpha=0.4, strategy="rrf", **NO_FILTER)
    assert rrf.frame["score"].max() < 1 / 60  # reciprocal-rank scale


def test_franchise_filter_keeps_one_per_franchise_and_reports_hidden(rec, user) -> None:
    # toy titles "Romance Story 1..12" form one franchise per genre; Paradox Loop (II) another
    for recs in (rec.content_match(query=QUERY, k=10),
                 rec.ai_pick(query=QUERY, user_id=user, k=10)):
        franchises = recs.frame["franchise"].tolist()
        assert len(franchises) == len(set(franchises)) and len(franchises) >= 3
        assert recs.filtered_by_franchise > 0 and "hidden" in recs.summary()
    sequel = rec.content_match(item_id=PLANTED_PAIR[0], k=3)
    assert sequel.item_ids[0] == PLANTED_PAIR[1]
    without = rec.content_match(item_id=PLANTED_PAIR[0], k=3, exclude_seed_franchise=True)
    assert PLANTED_PAIR[1] not in without.item_ids
    two = rec.content_match(query=QUERY, k=10, max_per_franchise=2)
    assert two.frame["franchise"].value_counts().max() == 2


def test_mmr_changes_the_list_towards_diversity(rec, user) -> None:
    from workbench.evaluation import intra_list_diversity

    plain = rec.ai_pick(query=QUERY, user_id=user, k=6, **NO_FILTER)
    diverse = rec.ai_pick(query=QUERY, user_id=user, k=6, mmr_lambda=0.3, **NO_FILTER)
    index = rec.content.index

    def ild(ids):
        return intra_list_diversity(index.vectors[index.rows_of(ids)])

    assert diverse.item_ids != plain.item_ids
    assert ild(diverse.item_ids) > ild(plain.item_ids)


def test_new_user_by_liked_items(rec) -> None:
    liked = [PLANTED_PAIR[0], 1, 2]
    pick = rec.ai_pick(query=QUERY, liked=liked, k=5, **NO_FILTER)
    assert len(pick) == 5 and not set(liked) & set(pick.item_ids)
    assert pick.frame["preference"].notna().all()
    assert "neighbours' preference" in pick.frame["reason"].iloc[0]
    feed = rec.personalized_feed(liked=liked, k=5)
    assert len(feed) >= 3 and not set(liked) & set(feed.item_ids)
    # an unknown user id is an error, unless the cold-start path is asked for
    with pytest.raises(RecommenderError, match=r"unknown user 999999 .*liked"):
        rec.ai_pick(query=QUERY, user_id=999999)
    assert len(rec.ai_pick(query=QUERY, user_id=999999, liked=liked, k=3)) == 3


def test_fold_in_of_a_popularity_model_is_popularity(toy) -> None:
    rec = Recommender.load("toy", toy, collaborative="popularity-implicit")
    cands = rec.candidates(query=QUERY, liked=[1, 2], candidates=20)
    expected = rec.collaborative.score_indices(
        np.zeros(len(cands.item_ids), np.int64),
        rec.collaborative.ids.lookup_items(cands.item_ids))
    assert np.allclose(cands.preference, expected)
    assert rec.ai_pick(query=QUERY, user_id=int(rec.collaborative.ids.users[0]), k=3
                       ).frame["reason"].str.contains("popularity").all()


def test_new_user_with_unrated_items_falls_back_to_the_content_profile(toy, rec) -> None:
    split = data.load_split("toy", "leave_last_out", toy)
    unrated = PLANTED_PAIR[0]
    model = train(make_config(dataset="toy", model="popularity"),
                  split.train[split.train["item_id"] != unrated], rec.items.index.to_numpy())
    cold = Recommender(rec.content, model)
    pick = cold.ai_pick(query=QUERY, liked=[unrated], k=3, **NO_FILTER)
    assert "content profile" in pick.note and len(pick) == 3
    assert pick.item_ids[0] == PLANTED_PAIR[1]  # the liked item's nearest plot leads
    warm = cold.ai_pick(query=QUERY, liked=[unrated, 1], k=3, **NO_FILTER)
    assert warm.note == ""


def test_personalized_feed_for_a_known_user(rec, user) -> None:
    feed = rec.personalized_feed(user_id=user, k=5, trending="rating")
    frame = feed.frame
    assert frame["preference"].is_monotonic_decreasing
    assert frame["franchise"].is_unique
    seen = set(rec.collaborative.ids.items[rec.collaborative.seen[0]].tolist())
    assert not seen & set(frame["item_id"])
    assert frame["reason"].str.startswith("trending #").all()
    assert rec.trending("recent").index[0] in set(rec.items["item_id"])


@pytest.mark.parametrize(("call", "message"), [
    (lambda r: r.content_match(query="   "), "empty query"),
    (lambda r: r.content_match(), "exactly one of query"),
    (lambda r: r.content_match(query="x", item_id=1), "exactly one of query"),
    (lambda r: r.content_match(item_id=424242), "unknown item 424242"),
    (lambda r: r.content_match(query="x", k=0), "k must be a positive integer"),
    (lambda r: r.ai_pick(query="x"), "no user given"),
    (lambda r: r.ai_pick(query="x", liked=[]), "at least one liked item"),
    (lambda r: r.ai_pick(query="x", liked=[424242]), "unknown item 424242"),
    (lambda r: r.ai_pick(query="x", user_id="bob"), "unknown user 'bob'"),
    (lambda r: r.ai_pick(query="x", user_id=1, alpha=1.5), "invalid option alpha"),
    (lambda r: r.ai_pick(query="x", user_id=1, colour="red"), r"unknown option\(s\) \['colour'\]"),
    (lambda r: r.personalized_feed(user_id=1, trending="hot"), "invalid option trending"),
])
def test_bad_input_is_a_clear_error(rec, call, message) -> None:
    with pytest.raises(RecommenderError, match=message):
        call(rec)


def test_load_errors_name_the_missing_piece(toy, tmp_path) -> None:
    with pytest.raises(RecommenderError, match="make pipeline"):
        Recommender.load("toy", Settings(home=tmp_path, data_mirror=tmp_path / "none"))
    from workbench.collaborative import CollaborativeError

    with pytest.raises(CollaborativeError, match="gmf-implicit is missing"):
        Recommender.load("toy", toy, collaborative="gmf-implicit")
    content_only = Recommender.load("toy", toy, collaborative=None)
    assert len(content_only.content_match(query=QUERY, k=3)) == 3
    with pytest.raises(RecommenderError, match="no collaborative model loaded"):
        content_only.ai_pick(query=QUERY, user_id=1)


@pytest.mark.integration
def test_load_the_mlflow_champion(toy, tmp_path) -> None:
    settings = Settings(home=toy.home, data_mirror=toy.data_mirror,
                        mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    local = Recommender.load("toy", settings)  # the default: the local champion copy
    assert local.model_label == "champion: mf v1"

    folder = settings.champion_dir("toy")
    folder.rename(tmp_path / "champion")  # without it, the registry is asked
    try:
        _load_from_registry(settings)
    finally:
        (tmp_path / "champion").rename(folder)


def _load_from_registry(settings) -> None:
    with pytest.raises(RecommenderError, match="no champion model 'toy-collaborative'"):
        Recommender.load("toy", settings, collaborative="champion")
    folder = model_dir(make_config(dataset="toy", model="mf", params=TOY_KERAS), settings)
    with tracking.start_run("test-hybrid", settings=settings) as run:
        source = tracking.log_model_folder(folder)
    moved, version = tracking.register_if_better("toy-collaborative", source, run.info.run_id,
                                                 "val_full_ndcg_at_10", 0.5, settings=settings)
    assert moved and version == "1"
    rec = Recommender.load("toy", settings, collaborative="champion",
                           config=HybridConfig(alpha=0.0))
    assert rec.model_label == "champion: mf (registry)"
    assert rec.collaborative.config.model == "mf"
    user = int(rec.collaborative.ids.users[0])
    assert len(rec.ai_pick(query=QUERY, user_id=user, k=3)) == 3


def test_user_history_is_the_users_best_rated_training_items(toy, rec, user) -> None:
    from workbench import data

    liked = rec.user_history(user, n=5)
    assert 0 < len(liked) <= 5 and liked["rating"].is_monotonic_decreasing
    inter = data.load_interactions("toy", toy)
    mine = inter[inter["user_id"] == user].set_index("item_id")["rating"]
    assert (liked["rating"].to_numpy() == mine.loc[liked["item_id"]].to_numpy()).all()
    trained = set(rec._seen_ids(rec._user(user, None, required=True)).tolist())
    assert set(liked["item_id"]) <= trained  # held-out items are never shown
    held_out = set(mine.index) - trained
    assert held_out and not held_out & set(rec.user_history(user, n=1000)["item_id"])
    with pytest.raises(RecommenderError, match="unknown user"):
        rec.user_history(10**9)
