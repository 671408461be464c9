"""Franchise grouping: title stems by hand, and the grouping on real titles of both catalogs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import data
from workbench.hybrid import franchise_table, title_stem
from workbench.hybrid.rerank import cap_per_group


@pytest.mark.parametrize(("title", "stem"), [
    ("Naruto", "naruto"),
    ("Naruto: Shippuuden", "naruto"),
    ("Naruto Movie 1: Dai Katsugeki!! Yuki Hime Shinobu Houjou Dattebayo!", "naruto"),
    ("Toy Story 3", "toy story"),
    ("Rocky II", "rocky"),
    ("The Godfather: Part III", "the godfather"),
    ("Harry Potter and the Chamber of Secrets", "harry potter"),
    ("Beauty and the Beast", "beauty and the beast"),  # one-word head: not cut
    ("Gintama'", "gintama"),
    ("Tsubasa Chronicle 2nd Season", "tsubasa chronicle"),
    ("Hachimitsu to Clover Specials", "hachimitsu to clover"),
    ("Pokémon", "pokemon"),
    ("1917", "1917"),  # a number-only title keeps its number
])
def test_title_stem(title: str, stem: str) -> None:
    assert title_stem(title) == stem


def _items(rows: list[dict]) -> pd.DataFrame:
    base = {"companies": [], "keywords": [], "genres": [], "year": 2000, "collection": None}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["year"] = frame["year"].astype("Int64")
    return frame


def test_prefix_merge_needs_evidence_and_collection_merges() -> None:
    items = _items([
        {"item_id": 1, "title": "Shrek", "companies": ["DreamWorks"]},
        {"item_id": 2, "title": "Shrek the Third", "companies": ["DreamWorks"]},
        {"item_id": 3, "title": "Alien", "companies": ["Fox"]},
        {"item_id": 4, "title": "Alien Zone", "companies": ["Other"]},
        {"item_id": 5, "title": "Dune", "collection": "Dune Collection"},
        {"item_id": 6, "title": "Arrakis Rising", "collection": "Dune Collection"},
    ])
    table = franchise_table(items).set_index("item_id")
    assert table.at[1, "franchise"] == table.at[2, "franchise"] == "shrek"
    assert table.at[2, "rule"] == "prefix+company" and table.at[1, "rule"] == "title"
    assert table.at[3, "franchise"] != table.at[4, "franchise"]
    assert table.at[5, "franchise"] == table.at[6, "franchise"]
    assert table.at[6, "rule"] == "collection"
    assert table.at[2, "franchise_name"] == "Shrek" and table.at[2, "franchise_size"] == 2


def _same(table: pd.DataFrame, ids: list[int]) -> bool:
    return table.loc[ids, "franchise"].nunique() == 1


def _title_ids(items: pd.DataFrame, titles: list[str]) -> list[int]:
    by_title = items.drop_duplicates("title").set_index("title")["item_id"]
    missing = [t for t in titles if t not in by_title.index]
    assert not missing, f"titles not in the catalog: {missing}"
    return [int(by_title[t]) for t in titles]


@pytest.mark.integration
def test_franchises_of_real_anime_titles(real_data) -> None:
    items = data.load_items("anime", real_data)
    table = franchise_table(items).set_index("item_id")
    ids = lambda *titles: _title_ids(items, list(titles))  # noqa: E731
    assert _same(table, ids("Naruto", "Naruto: Shippuuden", "Naruto: Shippuuden Movie 1",
                            "The Last: Naruto the Movie", "Boruto: Naruto the Movie"))
    assert _same(table, ids("Dragon Ball", "Dragon Ball Z", "Dragon Ball GT", "Dragon Ball Kai",
                            "Dragon Ball Z Movie 01: Ora no Gohan wo Kaese!!"))
    assert _same(table, ids("Fullmetal Alchemist", "Fullmetal Alchemist: Brotherhood"))
    assert _same(table, ids("Gintama", "Gintama'", "Gintama Movie 1: Shinyaku Benizakura-hen"))
    assert _same(table, ids("Code Geass: Hangyaku no Lelouch",
                            "Code Geass: Hangyaku no Lelouch R2"))
    for a, b in [("Naruto", "Bleach"), ("Steins;Gate", "Death Note"),
                 ("Dragon Ball", "One Piece"), ("Monster", "Cowboy Bebop")]:
        assert not _same(table, ids(a, b)), (a, b)
    naruto = table.loc[ids("Naruto")[0]]
    assert naruto["franchise_name"] == "Naruto" and naruto["franchise_size"] >= 20


@pytest.mark.integration
def test_franchises_of_real_movie_titles(real_data) -> None:
    items = data.load_items("movies", real_data)
    table = franchise_table(items).set_index("item_id")
    ids = lambda *titles: _title_ids(items, list(titles))  # noqa: E731
    assert _same(table, ids("The Godfather", "The Godfather: Part II",
                            "The Godfather: Part III"))
    assert _same(table, ids("Toy Story", "Toy Story 2", "Toy Story 3"))
    assert _same(table, ids("Harry Potter and the Philosopher's Stone",
                            "Harry Potter and the Half-Blood Prince"))
    assert _same(table, ids("Shrek", "Shrek 2", "Shrek the Third", "Shrek Forever After"))
    assert _same(table, ids("Star Wars", "Star Wars: Episode I - The Phantom Menace"))
    assert _same(table, ids("Batman", "Batman Begins", "Batman Returns"))
    assert _same(table, ids("The Dark Knight", "The Dark Knight Rises"))
    for a, b in [("Alien", "Alien Zone"), ("Fantastic Mr. Fox", "Fantastic Four"),
                 ("Spider", "Spider-Man"), ("Star Wars", "Star Trek"),
                 ("The Godfather", "The Last Godfather")]:
        assert not _same(table, ids(a, b)), (a, b)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["movies", "anime"])
def test_filter_never_returns_two_of_a_franchise_on_real_groups(real_data, name) -> None:
    groups = franchise_table(data.load_items(name, real_data))["franchise"].to_numpy()
    rng = np.random.default_rng(0)
    # rankings drawn from the big franchises, where duplicates are likeliest
    big = np.flatnonzero(pd.Series(groups).map(pd.Series(groups).value_counts()) >= 5)
    for _ in range(200):
        order = rng.permutation(np.concatenate([rng.choice(big, 60, replace=False),
                                                rng.choice(len(groups), 40, replace=False)]))
        order = list(dict.fromkeys(order.tolist()))
        kept, dropped = cap_per_group(order, groups, 1)
        assert len({groups[p] for p in kept}) == len(kept)
        assert len(kept) + len(dropped) == len(order) and dropped
