"""prepare on the real mirror data: row counts, schema, the prepare report, the splits."""

from __future__ import annotations

import pytest

from workbench import data
from workbench.data.schema import INTERACTION_COLUMNS, ITEM_COLUMNS

pytestmark = pytest.mark.integration


def _issue(report, fragment: str):
    [match] = [i for reason, i in report.issues.items() if fragment in reason]
    return match


def test_movies_counts_schema_and_report(real_data) -> None:
    items = data.load_items("movies", real_data)
    inter = data.load_interactions("movies", real_data)
    report = data.load_report("movies", real_data)
    assert list(items.columns) == ITEM_COLUMNS and list(inter.columns) == INTERACTION_COLUMNS
    assert len(items) == 4803  # the whole TMDB 5000 catalog, rated or not
    assert items["text"].notna().sum() == 4799  # 3 null + 1 blank... as SOURCE.md counts
    assert inter["user_id"].nunique() == 610
    # SOURCE.md: 70,194 ratings of 3,536 movies reach the catalog; two movieIds share one
    # tmdbId, so one user's two ratings merge into one item.
    assert len(inter) == 70194 - 1
    assert inter["item_id"].nunique() == 3535
    assert _issue(report, "duplicate (user_id, item_id)").count == 1
    assert _issue(report, "no tmdbId").count == 13
    assert report.inputs == {"tmdb_5000_movies.csv": 4803, "ratings.csv": 100836,
                             "links.csv": 9742}
    assert inter["timestamp"].notna().all()
    assert (items["genres"].map(len) > 0).mean() > 0.99
    assert (items["keywords"].map(len) > 0).mean() > 0.9
    inception = items.set_index("title").loc["Inception"]
    assert inception["item_id"] == 27205 and inception["year"] == 2010
    assert 0 < inception["weighted_rating"] <= inception["vote_average"]
    assert (items["weighted_rating"].dropna().between(0, 10)).all()


def test_anime_counts_quirks_and_report(real_data) -> None:
    items = data.load_items("anime", real_data)
    inter = data.load_interactions("anime", real_data)
    report = data.load_report("anime", real_data)
    assert len(items) == 16214
    assert _issue(report, "MAL placeholder").count == 745
    assert _issue(report, "sypnopsis: missing").count == 8
    assert items["text"].notna().sum() == 16214 - 745 - 8
    cut = _issue(report, "last user cut off")
    assert "664" in next(r for r in report.issues if "cut off" in r)
    assert 664 not in set(inter["user_id"])
    assert inter["user_id"].nunique() == 574  # 575 in the sample, less the cut-off one
    assert len(inter) == 99999 - cut.count - _issue(report, "not in the catalog").count
    assert inter["timestamp"].isna().all()  # absent, not invented
    assert inter["rating"].between(1, 10).all()
    steins = items.set_index("item_id").loc[9253]
    assert steins["title"] == "Steins;Gate" and "Sci-Fi" in steins["genres"]
    assert (items["genres"].map(len) > 0).sum() == 16214 - 63  # 63 "Unknown" genres
    assert (items["companies"].map(len) > 0).mean() > 0.5
    assert items["year"].notna().sum() == 16214 - 308
    assert "\r" not in "".join(items["text"].dropna().head(1000))
    assert items["language"].isna().all()
    assert any("no timestamps" in n for n in report.notes)


@pytest.mark.parametrize("name", ["movies", "anime"])
def test_splits_cover_every_interaction(real_data, name) -> None:
    inter = data.load_interactions(name, real_data)
    eligible = int((inter.groupby("user_id").size() >= 2).sum())
    loo = data.load_split(name, "leave_last_out", real_data)
    assert len(loo.test) == eligible == loo.test["user_id"].nunique()
    assert len(loo.train) + len(loo.test) == len(inter)
    holdout = data.load_split(name, "random_holdout", real_data)
    assert 0.18 < len(holdout.test) / len(inter) < 0.22
    assert set(holdout.test["user_id"]) <= set(holdout.train["user_id"])
    expected = "timestamp" if name == "movies" else "random"
    assert expected in loo.manifest["method"]


def test_prepare_is_reproducible(real_data, tmp_path) -> None:
    from workbench.settings import Settings

    again = Settings(home=tmp_path, data_mirror=real_data.data_mirror)
    data.fetch("anime", again)
    data.prepare("anime", again)
    first = data.load_split("anime", "leave_last_out", real_data).test
    second = data.load_split("anime", "leave_last_out", again).test
    assert first.equals(second)
