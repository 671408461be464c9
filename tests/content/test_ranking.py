"""Free-text ranking: BM25 index (cache, source quirks), quality prior, fusion, options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from workbench import data
from workbench.content import ContentConfig, TextEncoder, build_content_index
from workbench.content.lexical import LexicalIndex, lexical_index, lexical_texts
from workbench.content.ranking import RankingConfig, quality_prior, weak_text_mask
from workbench.data.toy import PLANTED_PAIR

DENSE = RankingConfig(lexical_weight=0, prior_weight=0)


def _items(texts: list[str | None], votes: list[int | None] | None = None) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame({
        "item_id": np.arange(1, n + 1), "title": [f"Item {i}" for i in range(n)],
        "alt_titles": [[] for _ in range(n)], "text": texts,
        "genres": [["Drama"] for _ in range(n)], "keywords": [[] for _ in range(n)],
        "vote_count": pd.array(votes if votes is not None else [10] * n, dtype="Int64"),
    })


def test_bm25_ranks_the_item_with_the_rare_query_word_first() -> None:
    items = _items(["a quiet village and a river", "an alchemist pays for forbidden magic",
                    "a river, a village, a quiet summer"])
    index = LexicalIndex.build(lexical_texts(items))
    scores = index.scores("the alchemists and their forbidden ritual")
    assert int(np.argmax(scores)) == 1 and scores[0] == scores[2] == 0
    assert not index.scores("the and of").any()  # stop words only: all zero, no error
    assert not index.scores("zyxwv").any()  # unknown words: all zero


def test_building_bm25_prints_no_debug_lines(caplog) -> None:
    """bm25s sets its own logger to DEBUG; a pipeline whose root logger has a handler then
    printed "DEBUG:bm25s:Building index from IDs objects". The lexical index quiets it."""
    import logging

    caplog.set_level(logging.DEBUG)
    LexicalIndex.build(["a cat on a mat", "a dog in the fog"])
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bm25s")] == []


def test_clipped_leading_fragment_is_left_out_of_the_lexical_text() -> None:
    text = lexical_texts(_items(["ches are individuals with special powers."]))[0]
    assert "ches" not in text.split() and "are individuals with special powers." in text
    assert "Witches are" in lexical_texts(_items(["Witches are individuals."]))[0]


def test_lexical_cache_round_trips_and_rebuilds_when_stale_or_corrupt(tmp_path) -> None:
    items = _items(["a haunted lighthouse keeper", "two brothers and an alchemy ritual"])
    path = tmp_path / "lexical.npz"
    built = lexical_index(items, path)
    assert path.is_file()
    loaded = LexicalIndex.load(path, built.fingerprint)
    assert loaded is not None
    np.testing.assert_array_equal(built.scores("alchemy brothers"),
                                  loaded.scores("alchemy brothers"))
    assert LexicalIndex.load(path, "another catalog") is None
    changed = _items(["a haunted lighthouse keeper", "a submarine crew lost at sea"])
    assert lexical_index(changed, path).scores("submarine")[1] > 0  # stale: rebuilt
    good = path.read_bytes()
    for broken in (b"not an npz", b"", good[: len(good) // 2]):  # corrupt, empty, truncated
        path.write_bytes(broken)
        assert lexical_index(changed, path).scores("submarine")[1] > 0  # rebuilt
    assert LexicalIndex.load(path, lexical_index(changed).fingerprint) is not None


def test_quality_prior_is_log_scaled_and_the_median_when_unknown() -> None:
    prior = quality_prior(_items(["a"] * 4, [0, 9, 999, None]))
    assert prior[2] == pytest.approx(1.0) and prior[0] == 0
    assert prior[1] == pytest.approx(np.log(10) / np.log(1000))
    assert prior[3] == pytest.approx(prior[1])  # unknown: the median of the known ones
    assert not quality_prior(_items(["a", "b"], [0, 0])).any()
    assert not quality_prior(_items(["a", "b"], [None, None])).any()


def test_weak_text_mask() -> None:
    long_enough = "A long enough plot about a lighthouse keeper and a storm."
    mask = weak_text_mask(_items([None, "", "Short.", long_enough]))
    assert mask.tolist() == [True, True, True, False]


def test_ranking_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        RankingConfig(prior_weight=-1)
    with pytest.raises(ValidationError, match="Extra inputs"):
        RankingConfig(bm25=1)
    assert DENSE.dense_only and not RankingConfig().dense_only


@pytest.fixture(scope="module")
def toy_engine(tmp_path_factory):
    from workbench.settings import Settings

    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, data_mirror=home / "no-mirror")
    data.prepare("toy", settings)
    engine, _ = build_content_index(ContentConfig(dataset="toy", ae_epochs=5), settings,
                                    TextEncoder(), progress=False)
    return engine


def test_all_weights_zero_is_exactly_the_dense_ranking(toy_engine, monkeypatch) -> None:
    query = "a physicist travels back in time to stop a murder"
    ids, scores = toy_engine.index.search(toy_engine.query_vector(query), 10)
    shortcut = toy_engine.search(query, 10, DENSE)
    # the fusion path itself, with every weight at 0, ranks as the dense index does
    monkeypatch.setattr(RankingConfig, "dense_only", property(lambda self: False))
    fused = toy_engine.search(query, 10, DENSE)
    for got in (shortcut, fused):
        assert got["item_id"].tolist() == ids[0].tolist()
        np.testing.assert_allclose(got["score"], scores[0], rtol=1e-5)


def test_searches_while_items_are_added_see_a_consistent_catalog(toy_engine) -> None:
    import threading
    import time

    engine = copy_engine(toy_engine)
    original_add = engine.index.add

    def slow_add(*args, **kwargs) -> None:  # widens the gap between index and catalog
        original_add(*args, **kwargs)
        time.sleep(0.02)

    engine.index.add = slow_add
    errors: list[BaseException] = []
    searches = [0]
    done = threading.Event()

    def search() -> None:
        while not done.is_set():
            try:
                engine.search("the story of a lighthouse keeper", 5)
                searches[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    base = engine.items.reset_index(drop=True)
    n = 0
    while searches[0] < 40 and n < 300 and not errors:  # adds while searches run
        n += 1
        row = base.iloc[[0]].assign(item_id=900_000 + n, title=f"Lighthouse Keeper {n}",
                                    text="The story of a lighthouse keeper and a storm.")
        frame = pd.concat([engine.items.reset_index(drop=True), row], ignore_index=True)
        vector = engine.index.vector(int(base["item_id"][0]))
        engine.add_items(vector[None, :], np.array([900_000 + n]), None, frame, [])
    done.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert engine.search("the story of a lighthouse keeper", 1)["title"][0].startswith(
        "Lighthouse Keeper")


def copy_engine(engine):
    """A second engine over a copy of ``engine``'s index (so a test can change it)."""
    import copy

    from workbench.content import ContentEngine, VectorIndex

    index = VectorIndex.build(engine.index.vectors.copy(), engine.index.item_ids.copy(),
                              copy.deepcopy(engine.index.manifest))
    return ContentEngine(engine.items.reset_index(drop=True), index, engine.encoder)


def test_each_part_moves_the_ranking_the_way_it_should(toy_engine) -> None:
    query = "a tale of galaxy and orbit"
    dense = toy_engine.search(query, 48, DENSE)
    # BM25 alone (no dense weight to speak of) puts items with both words first
    words = toy_engine.search(query, 5, RankingConfig(lexical_weight=50, prior_weight=0))
    texts = toy_engine.items.set_index("item_id")["text"]
    assert all({"galaxy", "orbit"} <= set(texts[i].rstrip(".").split())
               for i in words["item_id"][:2])
    # a large prior puts the most voted among the candidates first
    popular = toy_engine.search(query, 1, RankingConfig(lexical_weight=0, prior_weight=50))
    votes = toy_engine.items.set_index("item_id")["vote_count"]
    assert popular["item_id"][0] == votes[dense["item_id"]].idxmax()
    # a penalty sinks items without a real plot text
    toy_engine.items.loc[dense["item_id"][0], "text"] = ""
    toy_engine.changed()
    try:
        penalty = RankingConfig(lexical_weight=0, prior_weight=0, weak_text_penalty=5)
        sunk = toy_engine.search(query, len(toy_engine.index), penalty)
        assert sunk["item_id"].iloc[-1] == dense["item_id"][0]
    finally:
        toy_engine.items.loc[dense["item_id"][0], "text"] = texts[dense["item_id"][0]]
        toy_engine.changed()


def test_default_ranking_still_finds_the_planted_pair(toy_engine) -> None:
    top = toy_engine.search("a physicist travels back in time to stop a murder", 5)
    assert set(top["item_id"][:2]) == set(PLANTED_PAIR)
    assert top["score"].is_monotonic_decreasing
