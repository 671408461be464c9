"""The dashboard driven in Python: set widget values, click, read what it renders."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from workbench.dashboard import Dashboard, placeholder_poster, render_cards
from workbench.data.toy import PLANTED_PAIR
from workbench.settings import Settings

QUERY = "a physicist travels back in time to stop a murder"


@pytest.fixture(scope="module")
def toy(toy_home) -> Settings:
    return toy_home("dashboard-home", dashboard_datasets=["toy"])


@pytest.fixture(scope="module")
def toy_recommender(toy):
    from workbench.dashboard import load_for_dashboard

    return load_for_dashboard("toy", toy, "mf-implicit")


@pytest.fixture
def dash(toy, toy_recommender) -> Dashboard:
    board = Dashboard(settings=toy, loader=lambda _name: toy_recommender)
    assert board.ready.wait(120), "the warm-up never finished"
    return board


def _pick(dash: Dashboard, title: str) -> None:
    """"more like a title" mode, then the title typed and entered in the one input."""
    dash.input_mode.value = "more like a title"
    dash.query.value = title


def _describe(dash: Dashboard, text: str) -> None:
    dash.input_mode.value = "describe a plot"
    dash.query.value = text


def _cards(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-item="(\d+)"', html)]


def test_query_fills_both_columns_and_alpha_changes_ai_pick(dash) -> None:
    assert "describe a plot" in dash.status.value and dash.content_box.value == ""
    dash.franchise_filter.value = False
    dash.query.value = QUERY
    content, ai = _cards(dash.content_box.value), _cards(dash.ai_box.value)
    assert len(content) == len(ai) == 10
    assert set(content[:2]) == set(PLANTED_PAIR)
    assert "Content match" in dash.content_box.value and "AI pick" in dash.ai_box.value
    assert "answered in" in dash.status.value
    dash.alpha.value = 1.0
    model = dash.recommender.collaborative
    seen = set(model.ids.items[model.seen[model.ids.user_index(int(dash.user.value))]].tolist())
    unseen = [i for i in content if i not in seen]  # AI pick leaves the user's rated items out
    assert _cards(dash.ai_box.value)[:len(unseen)] == unseen  # alpha 1: the content order
    dash.alpha.value = 0.0
    assert _cards(dash.ai_box.value) != content
    assert _cards(dash.content_box.value) == content  # the left box ignores alpha
    dash.k.value = 5
    assert len(_cards(dash.ai_box.value)) == 5


def test_cards_show_poster_bars_badge_and_reason(dash) -> None:
    dash.query.value = QUERY
    html = dash.ai_box.value
    cards = len(_cards(html))
    assert cards >= 3  # one per franchise: the toy genres are four series, plus Paradox Loop
    assert "data:image/svg+xml;base64," in html  # a generated placeholder poster
    assert html.count('class="wb-bar ') == 2 * cards  # similarity and preference bars
    assert "wb-badge" in html and "wb-synopsis" in html and "for user" in html


def test_more_like_this_picker_and_franchise_controls(dash) -> None:
    _pick(dash, "Paradox Loop (2010)")
    assert _cards(dash.content_box.value)[0] == PLANTED_PAIR[1]
    franchise_of = dash.recommender.franchise_of
    shown = [franchise_of(i) for i in _cards(dash.content_box.value)]
    assert len(shown) == len(set(shown))  # the filter is on: one per franchise
    dash.max_per_franchise.value = 2
    shown = [franchise_of(i) for i in _cards(dash.content_box.value)]
    assert max(shown.count(f) for f in shown) == 2
    dash.franchise_filter.value = False
    assert len(_cards(dash.content_box.value)) == 10


def test_errors_are_shown_in_the_panel(dash) -> None:
    _pick(dash, "No Such Film")
    assert "unknown title 'No Such Film'" in dash.status.value
    assert "wb-error" in dash.status.value and dash.ai_box.value == ""
    _describe(dash, "   ")
    dash.search_button.click()
    assert "empty query" in dash.status.value


def test_an_error_leaves_the_other_panels_in_place(dash) -> None:
    dash.query.value = QUERY
    shown = (dash.content_box.value, dash.ai_box.value, dash.feed_box.value)
    assert all(_cards(value) for value in shown)
    _pick(dash, "No Such Film")
    assert "unknown title" in dash.status.value and "wb-error" in dash.status.value
    assert (dash.content_box.value, dash.ai_box.value, dash.feed_box.value) == shown


def test_one_request_per_action_and_a_busy_line(dash, monkeypatch) -> None:
    """Enter (the text's value) then the button is one request; while it runs the status
    line shows a busy indicator."""
    seen = []
    answer = dash._answer
    monkeypatch.setattr(dash, "_answer", lambda state: (seen.append(dash.status.value),
                                                        answer(state)))
    dash.query.value = QUERY
    dash.search_button.click()
    assert len(seen) == 1 and "wb-busy" in seen[0]
    dash.alpha.value = 0.9
    assert len(seen) == 2


def test_user_history_and_model_name_are_shown(dash) -> None:
    user = int(dash.user.options[2])
    dash.user.value = str(user)
    liked = dash.recommender.user_history(user, n=6)
    assert not liked.empty and "liked:" in dash.history.value
    assert liked["title"].iloc[0].split()[0] in dash.history.value
    assert liked["rating"].is_monotonic_decreasing
    assert "AI pick model: <b>mf-implicit</b>" in dash.model_note.value
    assert "alpha = weight of the content match" in dash.model_note.value


def test_new_user_mode_uses_ticked_items_and_the_feed(dash) -> None:
    dash.query.value = QUERY
    dash.mode.value = "new user"
    assert dash.user.layout.display == "none" and dash.liked.layout.display is None
    assert "tick a few liked items" in dash.status.value
    boxes = dash.liked.children
    assert len(boxes) == 24
    boxes[0].value = True
    boxes[1].value = True
    assert "for new user" in dash.ai_box.value
    assert len(_cards(dash.feed_box.value)) >= 3
    dash.mode.value = "known user"
    dash.user.value = dash.user.options[3]
    assert f"for user {dash.user.options[3]}" in dash.ai_box.value
    assert "trending #" in dash.feed_box.value


def test_missing_models_name_the_command(tmp_path) -> None:
    empty = Settings(home=tmp_path, data_mirror=tmp_path / "none", dashboard_datasets=["toy"])
    dash = Dashboard(settings=empty)
    assert "make pipeline" in dash.status.value and "wb-error" in dash.status.value
    assert dash.show() is not None  # still displays, with the message


def test_placeholder_and_provider_posters(dash) -> None:
    assert placeholder_poster("Paradox Loop", 2010) != placeholder_poster("Other", 2010)
    rec = dash.recommender
    recs = rec.content_match(query=QUERY, k=2)
    rec.items.loc[recs.frame["item_id"].iloc[0], "poster_url"] = "https://example.org/p.jpg"
    try:
        assert 'src="https://example.org/p.jpg"' in render_cards(recs, rec, "x")
    finally:
        rec.items.loc[recs.frame["item_id"].iloc[0], "poster_url"] = None


def test_unknown_title_offers_to_fetch_it(toy, monkeypatch) -> None:
    from tests.enrich.fake_servers import FakeServer, tmdb_routes
    from workbench.content import VectorIndex
    from workbench.dashboard import load_for_dashboard
    from workbench.enrich import TMDBProvider

    path = toy.index_file("toy")
    before = VectorIndex.load(path)
    with FakeServer(tmdb_routes) as server:
        settings = Settings(home=toy.home, data_mirror=toy.data_mirror,
                            tmdb_url=f"{server.url}/3", dashboard_datasets=["toy"])
        rec = load_for_dashboard("toy", settings, "mf-implicit")
        dash = Dashboard(settings=settings, loader=lambda _name: rec)
        _pick(dash, "Inception")
        assert "unknown title 'Inception'" in dash.status.value
        assert dash.fetch_button.layout.display is None
        assert dash.fetch_button.description == "Fetch “Inception”"
        monkeypatch.setattr("workbench.enrich.coldstart.provider_for",
                            lambda _ds, s=None: TMDBProvider(s, api_key="test-key"))
        dash.fetch_button.click()
        assert "added Inception (2010) from TMDB" in dash.status.value
        assert dash.fetch_button.layout.display == "none"
        assert len(_cards(dash.content_box.value)) >= 3  # more like the fetched film
        assert 27205 in dash.recommender.items.index
    from workbench.enrich.coldstart import _SAVER

    _SAVER.submit(lambda: None).result(timeout=60)  # the background save has finished
    before.save(path)  # leave the shared toy index as it was


def test_shown_results_heal_their_missing_details(toy, toy_recommender) -> None:
    from workbench.enrich import ItemMetadata
    from workbench.enrich.heal import PatchStore

    class StubProvider:
        name = "Stub"

        def __init__(self) -> None:
            self.asked: list[int] = []

        def details(self, provider_id):
            self.asked.append(int(provider_id))
            return ItemMetadata(provider="Stub", provider_id=int(provider_id), title="x",
                                poster_url=f"https://posters.example/{provider_id}.jpg")

    provider = StubProvider()
    dash = Dashboard(settings=toy, loader=lambda _name: toy_recommender,
                     healer=lambda _name: provider)
    dash.query.value = QUERY
    dash._healing.result(timeout=60)  # the background healer, then its re-render
    shown = _cards(dash.content_box.value)
    assert f'src="https://posters.example/{shown[0]}.jpg"' in dash.content_box.value
    store = PatchStore.for_dataset("toy", toy)
    assert store.patched(shown[0])["poster_url"]["source"] == f"Stub:{shown[0]}"
    dash.alpha.value = 0.9  # the same content items again: their patches are reused
    dash._healing.result(timeout=60)
    assert all(provider.asked.count(i) == 1 for i in shown), str(provider.asked)
    assert len(provider.asked) == len(set(provider.asked))  # an item in both columns: once
    store.path.unlink()  # leave the shared toy home as it was


@pytest.mark.parametrize("poster", [
    'https://image.tmdb.org/t/p/w185/x.jpg" onerror="alert(document.domain)',
    "javascript:alert(1)",
    "http://example.org/plain-http.jpg",
    "https://example.org/a.jpg'><script>alert(1)</script>",
    "data:text/html,<script>alert(1)</script>",
])
@pytest.mark.reliability
def test_hostile_provider_and_patch_values_never_reach_the_page(dash, poster) -> None:
    """A poster URL, title, synopsis or genre from a provider or a patch file is text: no
    handler attribute, script or foreign image scheme reaches the page; only https: images
    (and the generated data: placeholders) are drawn."""
    rec = dash.recommender
    recs = rec.content_match(query=QUERY, k=2)
    item = recs.frame["item_id"].iloc[0]
    saved = rec.items.loc[item, ["poster_url", "text"]].copy()
    rec.items.loc[item, "poster_url"] = poster
    rec.items.loc[item, "text"] = '<img src=x onerror="alert(2)">'
    recs.frame.loc[recs.frame.index[0], "title"] = '"><script>alert(3)</script>'
    try:
        page = render_cards(recs, rec, "x")
    finally:
        rec.items.loc[item, ["poster_url", "text"]] = saved.to_numpy()
    tags = _tags(page)
    assert not [t for t, _ in tags if t == "script"]
    assert not [(t, a) for t, attrs in tags for a, _ in attrs if a.startswith("on")]
    sources = [dict(attrs)["src"] for t, attrs in tags if t == "img"]
    assert len(sources) == 2 and sources[0].startswith("data:image/svg+xml;base64,")
    assert all(s.startswith(("https://", "data:image/svg+xml;base64,")) for s in sources)


def _tags(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every start tag of ``page`` with its attributes, as a browser's parser sees them."""
    from html.parser import HTMLParser

    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Parser().feed(page)
    return found


@pytest.mark.reliability
def test_a_year_is_shown_once_and_a_missing_year_not_at_all(dash) -> None:
    rec = dash.recommender
    recs = rec.content_match(query=QUERY, k=3)
    frame = recs.frame
    frame["year"] = frame["year"].astype("Int64")
    frame.loc[frame.index[0], ["title", "year"]] = ["Hashire Melos (1981)", 1981]
    frame.loc[frame.index[1], "year"] = None
    page = render_cards(recs, rec, "x")
    assert "Hashire Melos (1981)" in page and "(1981) " not in page
    assert page.count("(1981)") == 1
    assert "(<NA>)" not in page and "(nan)" not in page


def test_one_input_with_a_mode(dash) -> None:
    """One box: a plot description, or a title with completion; switching the mode changes
    the placeholder and the completions and runs nothing until the next Enter."""
    assert dash.query.options == () and dash.query.placeholder.startswith("describe a plot")
    _describe(dash, QUERY)
    answered = dash.answers
    dash.input_mode.value = "more like a title"
    assert dash.answers == answered  # no silent re-run
    assert dash.query.placeholder.startswith("type a title")
    assert "Paradox Loop (2010)" in dash.query.options
    dash.query.value = "Paradox Loop (2010)"
    assert dash.answers == answered + 1 and "Content match" in dash.content_box.value
    dash.input_mode.value = "describe a plot"
    assert dash.query.options == ()


def test_a_failed_warm_up_is_said_in_place_of_warming_up(toy, toy_recommender,
                                                          monkeypatch) -> None:
    """A warm-up that raises must not leave "warming up" on the page for ever."""
    def broken() -> None:
        raise RuntimeError("the encoder graph is damaged")

    monkeypatch.setattr(toy_recommender, "warm_up", broken)
    board = Dashboard(settings=toy, loader=lambda _name: toy_recommender)
    assert board.ready.wait(60)
    assert "wb-error" in board.status.value
    assert "toy: warming up failed: the encoder graph is damaged" in board.status.value


def _bars(page: str) -> list[str]:
    """The bars' labels ("similarity 0.54", "preference top 3%") in card order."""
    return re.findall(r'class="wb-bar[^"]*"[^>]*><div class="wb-track">.*?</div></div>([^<]*)',
                      page)


def test_the_similarity_bar_is_one_cosine_scale_in_both_modes(dash) -> None:
    """Free text and more like this: the same bar, labelled "similarity", the cosine (0-1) of
    the item to the query or seed, never the fused search score (which runs above 1)."""
    dash.franchise_filter.value = False
    dash.query.value = QUERY
    free = dash.recommender.content_match(query=QUERY, k=10).frame
    assert (free["similarity"] > 1).any()  # the fused search score: no fixed scale
    _pick(dash, "Paradox Loop (2010)")
    seed = dash.recommender.content_match(item_id=dash.resolve_title("Paradox Loop (2010)"),
                                          k=10, max_per_franchise=0).frame
    for frame in (free, seed):
        assert frame["cosine"].between(-1, 1).all() and frame["cosine"].max() <= 1 + 1e-6
    labels = _bars(dash.content_box.value)
    assert labels and all(label.startswith("similarity 0.") for label in labels)
    shown = [float(label.split()[1]) for label in labels]
    assert shown == [round(c, 2) for c in seed["cosine"]]
    assert "match " not in dash.content_box.value and "match " not in dash.ai_box.value


def test_preference_is_a_percentile_of_the_catalog(dash, toy_recommender) -> None:
    """An implicit model's score has no unit: the bar and the reason give the item's place
    among the user's unrated catalog items ("top 3%"), computed from the model's full row."""
    dash.franchise_filter.value = False
    dash.query.value = QUERY
    rec, user = toy_recommender, int(dash.user.value)
    frame = rec.ai_pick(query=QUERY, user_id=user, k=10, max_per_franchise=0).frame
    model = rec.collaborative
    row = model.score_users(np.array([model.ids.user_index(user)]))[0].astype(float)
    unrated = np.delete(row, model.seen[model.ids.user_index(user)])
    expected = [(unrated < p).mean() for p in frame["preference"]]
    assert np.allclose(frame["preference_percentile"], expected)
    labels = [b for b in _bars(dash.ai_box.value) if b.startswith("preference")]
    assert len(labels) == 10 and all(re.fullmatch(r"preference top [\d.]+%", b) for b in labels)
    assert "of the catalog" in frame["reason"].iloc[0]
    assert "preference = " not in dash.model_note.value and "top 3% = above 97%" in \
        dash.model_note.value  # the legend says what the numbers mean


def test_a_catalog_without_plots_says_title_and_genres_similarity(toy_recommender) -> None:
    rec = toy_recommender
    saved = rec.items[["item_id", "text"]].copy()
    try:
        rec.update_items(saved.assign(text=None))
        for frame in (rec.content_match(query=QUERY, k=3).frame,
                      rec.content_match(item_id=PLANTED_PAIR[0], k=3).frame,
                      rec.ai_pick(item_id=PLANTED_PAIR[0], user_id=int(
                          rec.collaborative.ids.users[0]), k=3).frame):
            assert frame["reason"].str.startswith("title + genres similarity ").all()
            assert not frame["reason"].str.contains("plot").any()
    finally:
        rec.update_items(saved)
    assert rec.content_match(query=QUERY, k=3).frame["reason"].str.startswith(
        "plot similarity ").all()


def test_the_champion_is_described_members_and_weights() -> None:
    from types import SimpleNamespace

    from workbench.dashboard.legend import model_description

    config = SimpleNamespace(objective="implicit", params={
        "members": {"ease": 1.0, "itemknn": 1.0391, "content_knn": 0.8287, "ials": 0.0},
        "member_params": {"ease": {"l2": 116.7}}})
    rec = SimpleNamespace(collaborative=SimpleNamespace(config=config), model_label="blend",
                          dataset="toy")
    text = model_description(rec)
    assert "ease 1 + itemknn 1.04 + content_knn 0.829" in text and "ials" not in text
    config.params = {"l2": 116.7293, "weighting": "binary"}
    assert model_description(rec) == "implicit feedback; l2 117, weighting binary"


def test_the_model_line_names_the_champion_and_its_selection(toy) -> None:
    from workbench.dashboard import load_for_dashboard

    rec = load_for_dashboard("toy", toy)  # the toy home's champion: mf, version 1
    board = Dashboard(settings=toy, loader=lambda _name: rec, warm=False)
    assert "champion = mf v1" in board.model_note.value
    assert "implicit feedback; " in board.model_note.value


def test_switching_datasets_keeps_each_users_pick_and_says_so(toy, toy_recommender) -> None:
    """User ids are per dataset: switching shows the other dataset's last pick (first: its
    first user) and the status says so; switching back restores the pick."""
    board = Dashboard(datasets=["toy", "toy-copy"], settings=toy,
                      loader=lambda _name: toy_recommender, warm=False)
    picked = board.user.options[3]
    board.user.value = picked
    board.query.value = QUERY
    board.dataset.value = "toy-copy"
    first = board.user.options[0]
    assert board.user.value == first
    assert (f"user {first} (toy-copy's first user: user ids are per dataset; toy keeps user "
            f"{picked} for when you switch back)") in board.status.value
    board.user.value = board.user.options[5]
    assert "per dataset" not in board.status.value  # another pick: said no more
    board.dataset.value = "toy"
    assert board.user.value == picked
    assert f"user {picked} (picked before here" in board.status.value


def test_start_timings_are_on_the_page(dash) -> None:
    assert dash.ready.wait(60)
    for _ in range(100):  # "ready" is stamped by the warm-up thread right before ready is set
        if "ready" in dash.timings:
            break
        time.sleep(0.05)
    stamps = dash.timings
    assert stamps["kernel_started"] <= stamps["imported"] <= stamps["built"] <= stamps["ready"]
    import html
    import json

    shown = re.search(r"data-timings='([^']*)'", dash.timings_html.value).group(1)
    assert json.loads(html.unescape(shown)) == stamps


def test_after_ready_the_status_is_sent_again(toy, toy_recommender, monkeypatch) -> None:
    """A change made while the page restores its widgets is lost by the page: the status
    line (and the timings) are sent again after "ready"."""
    board = Dashboard(settings=toy, loader=lambda _name: toy_recommender, warm=False)
    monkeypatch.setattr("workbench.dashboard.RESEND_AFTER_READY_S", (0.0, 0.0, 0.0))
    sent = []
    monkeypatch.setattr(board.status, "send_state", lambda key=None: sent.append(key))
    board._resend_status()
    assert sent == ["value"] * 3


def test_the_launcher_keeps_rfc3987_syntax_out_of_the_server() -> None:
    import subprocess
    import sys

    probe = ("import sys\nfrom workbench.dashboard.serve import main\ntry:\n"
             "    main(['--version'])\nexcept SystemExit:\n    pass\n"
             "import jsonschema._format\nprint(sys.modules['rfc3987_syntax'])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "None"
