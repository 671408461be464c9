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
    path.write_bytes(b"not an npz")
    assert lexical_index(changed, path).scores("submarine")[1] > 0  # corrupt: rebuilt
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


def test_all_weights_zero_is_exactly_the_dense_ranking(toy_engine) -> None:
    query = "a physicist travels back in time to stop a murder"
    ids, scores = toy_engine.index.search(toy_engine.query_vector(query), 10)
    got = toy_engine.search(query, 10, DENSE)
    assert got["item_id"].tolist() == ids[0].tolist()
    np.testing.assert_allclose(got["score"], scores[0], rtol=1e-6)


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
    toy_engine._signals = None
    try:
        penalty = RankingConfig(lexical_weight=0, prior_weight=0, weak_text_penalty=5)
        sunk = toy_engine.search(query, len(toy_engine.index), penalty)
        assert sunk["item_id"].iloc[-1] == dense["item_id"][0]
    finally:
        toy_engine.items.loc[dense["item_id"][0], "text"] = texts[dense["item_id"][0]]
        toy_engine._signals = None


def test_default_ranking_still_finds_the_planted_pair(toy_engine) -> None:
    top = toy_engine.search("a physicist travels back in time to stop a murder", 5)
    assert set(top["item_id"][:2]) == set(PLANTED_PAIR)
    assert top["score"].is_monotonic_decreasing
