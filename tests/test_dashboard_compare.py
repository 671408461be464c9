"""Two models side by side (issue 27): the listing, loading by name, the top-10 lists and
their overlap (:mod:`workbench.hybrid.compare`), and the dashboard's "Compare models" tab."""

from __future__ import annotations

import re
import shutil

import pytest

from workbench.dashboard import Dashboard, load_for_dashboard
from workbench.hybrid import RecommenderError
from workbench.hybrid.compare import (
    comparable_models,
    compare,
    default_pair,
    load_model,
    top_k,
    with_model,
)
from workbench.settings import Settings

SAVED = ["ease-implicit", "mf-implicit", "neumf-implicit", "popularity-implicit"]
"""The toy home's saved models (tests.helpers.TOY_MODELS), as the listing sorts them."""


@pytest.fixture(scope="module")
def toy(toy_home) -> Settings:
    """A toy home whose champion is a copy of mf-implicit, plus a second saved EASE model
    (``ease2-implicit``, saved the way notebook 03 saves one)."""
    settings = toy_home("compare-home", dashboard_datasets=["toy"])
    shutil.copytree(settings.model_dir("toy", "ease-implicit"),
                    settings.model_dir("toy", "ease2-implicit"))
    return settings


@pytest.fixture(scope="module")
def rec(toy):
    return load_for_dashboard("toy", toy, "mf-implicit")


def _cards(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-item="(\d+)"', page)]


def test_the_saved_models_and_the_champion_are_listed(toy, tmp_path) -> None:
    names = comparable_models("toy", toy)
    assert names == ["champion", "ease-implicit", "ease2-implicit", *SAVED[1:]]
    # the champion is a copy of mf: the first pair is the champion and another kind
    assert default_pair("toy", toy) == ("champion", "ease-implicit")
    assert default_pair("toy", toy, ["mf-implicit", "ease-implicit"]) == (
        "mf-implicit", "ease-implicit")
    empty = Settings(home=tmp_path, data_mirror=tmp_path / "none")
    assert comparable_models("toy", empty) == []
    with pytest.raises(RecommenderError, match=r"no saved models for toy: run `make pipeline`"):
        default_pair("toy", empty)


def test_an_unknown_or_corrupt_model_is_one_line_naming_what_there_is(toy) -> None:
    with pytest.raises(RecommenderError) as caught:
        load_model("toy", "bpr-implicit", toy)
    message = str(caught.value)
    assert message.startswith("unknown model 'bpr-implicit' for toy; available: champion, "
                              "ease-implicit, ease2-implicit, mf-implicit")
    assert "\n" not in message
    broken = toy.model_dir("toy", "broken-implicit")
    shutil.copytree(toy.model_dir("toy", "ease-implicit"), broken)
    (broken / "ids.npz").write_bytes(b"not a zip")
    try:
        with pytest.raises(RecommenderError) as caught:
            load_model("toy", "broken-implicit", toy)
        message = str(caught.value)
        assert message.startswith("model 'broken-implicit' of toy could not be loaded (")
        assert "is corrupt" in message and "available: champion, " in message
        assert "\n" not in message
    finally:
        shutil.rmtree(broken)
    model, label = load_model("toy", "champion", toy)
    assert label == "champion: mf v1" and model.config.model == "mf"


def test_each_list_is_the_models_top_10_without_seen_items(rec, toy) -> None:
    ease = with_model(rec, "ease-implicit")
    assert ease.content is rec.content and ease.model_label == "ease-implicit"
    user = int(rec.collaborative.ids.users[4])
    shown = top_k(ease, user).item_ids
    expected = ease.collaborative.recommend(user, k=10)["item_id"].tolist()
    assert shown == expected and len(shown) == 10
    reasons = top_k(ease, user).frame["reason"]
    assert reasons.str.contains(f"of the catalog for user {user}").all()
    assert not reasons.str.contains("trending").any()  # the feed's pool rank says nothing here
    model = ease.collaborative
    seen = set(model.ids.items[model.seen[model.ids.user_index(user)]].tolist())
    assert seen and not seen & set(shown)


def test_overlap_counts_the_items_in_both_lists(rec) -> None:
    user = int(rec.collaborative.ids.users[4])
    ease, ease2 = with_model(rec, "ease-implicit"), with_model(rec, "ease2-implicit")
    same = compare(ease, ease2, user)
    assert same.common == same.lists[0].item_ids and same.jaccard == 1.0
    assert same.summary() == "10 of 10 in common (Jaccard 1.00)"
    popular = with_model(rec, "popularity-implicit")
    other = compare(ease, popular, user)
    a, b = (set(x.item_ids) for x in other.lists)
    assert set(other.common) == a & b and len(a & b) < 10
    assert other.jaccard == pytest.approx(len(a & b) / len(a | b))
    assert other.summary().startswith(f"{len(a & b)} of 10 in common (Jaccard ")


@pytest.fixture
def board(toy, rec) -> Dashboard:
    return Dashboard(settings=toy, loader=lambda _name: rec, warm=False)


def test_the_tab_loads_nothing_until_opened(board) -> None:
    panel = board.compare
    assert board.tabs.get_title(2) == "Compare models"
    board.user.value = board.user.options[2]
    assert panel.model_a.options == () and not panel.loaded
    assert panel.box_a.value == panel.box_b.value == ""
    board.tabs.selected_index = 2
    assert panel.model_a.value == "champion" and panel.model_b.value == "ease-implicit"
    assert len(_cards(panel.box_a.value)) == len(_cards(panel.box_b.value)) == 10


def test_the_dashboard_picks_two_models_and_shows_both_lists(board, rec) -> None:
    panel = board.compare
    board.tabs.selected_index = 2
    user = board.user.options[3]
    board.user.value = user
    panel.model_a.value = "ease-implicit"
    panel.model_b.value = "popularity-implicit"
    first, second = _cards(panel.box_a.value), _cards(panel.box_b.value)
    expected = compare(with_model(rec, "ease-implicit"), with_model(rec, "popularity-implicit"),
                       int(user))
    assert (first, second) == tuple(x.item_ids for x in expected.lists)
    assert "A: ease-implicit" in panel.box_a.value
    assert "B: popularity-implicit" in panel.box_b.value
    both = re.findall(r'class="wb-card wb-both" data-item="(\d+)"', panel.box_a.value)
    assert [int(i) for i in both] == expected.common
    assert panel.box_b.value.count("in both</span>") == len(expected.common)
    assert f"user {user}: {len(expected.common)} of 10 in common" in panel.status.value
    assert "liked:" in panel.history.value  # the user's history beside the lists
    board.user.value = board.user.options[5]  # another user: the tab follows
    assert f"user {board.user.options[5]}: " in panel.status.value
    assert _cards(panel.box_a.value) != first
    board.mode.value = "new user"
    assert "pick a known user" in panel.status.value and panel.box_a.value == ""


def test_a_missing_model_is_said_in_the_tab(board, toy) -> None:
    panel = board.compare
    board.tabs.selected_index = 2
    folder = toy.model_dir("toy", "ease2-implicit")
    moved = folder.with_name(".moved")
    folder.rename(moved)  # deleted after the listing
    try:
        panel.model_b.value = "ease2-implicit"
        assert "wb-error" in panel.status.value
        assert "unknown model 'ease2-implicit' for toy; available: champion" in \
            panel.status.value
        assert panel.box_b.value == ""
    finally:
        moved.rename(folder)


def test_only_the_picked_models_stay_loaded_and_the_champion_is_the_dashboards(toy) -> None:
    champion = load_for_dashboard("toy", toy)
    board = Dashboard(settings=toy, loader=lambda _name: champion, warm=False)
    panel = board.compare
    board.tabs.selected_index = 2
    assert "A: champion: mf v1" in panel.box_a.value
    assert set(panel.loaded) == {("toy", "ease-implicit")}  # the champion: not loaded again
    for name in ("mf-implicit", "neumf-implicit", "popularity-implicit"):
        panel.model_b.value = name
        assert len(_cards(panel.box_b.value)) == 10
    assert set(panel.loaded) == {("toy", "popularity-implicit")}
    panel.model_a.value = "ease-implicit"
    assert set(panel.loaded) == {("toy", "ease-implicit"), ("toy", "popularity-implicit")}
