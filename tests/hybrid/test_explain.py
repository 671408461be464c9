"""What a result's numbers mean: percentiles, shares and ratings in words."""

from __future__ import annotations

import numpy as np

from workbench.hybrid import explain


def test_percentiles_count_the_catalog_strictly_below() -> None:
    catalog = np.array([0.1, 0.2, 0.3, 0.4, np.nan])
    assert explain.percentiles(np.array([0.4, 0.1, 0.25, np.nan]), catalog)[:3].tolist() == [
        0.75, 0.0, 0.5]
    assert np.isnan(explain.percentiles(np.array([0.2]), np.array([])))[0]


def test_top_share_rounds_up_so_the_claim_holds() -> None:
    assert explain.top_share(1 - 1 / 5000) == "top 0.1%"
    assert explain.top_share(0.995) == "top 0.5%"
    assert explain.top_share(0.975) == "top 3%"
    assert explain.top_share(0.0) == "top 100%"


def test_a_rating_model_says_its_rating_on_the_scale() -> None:
    assert explain.preference_text("predicted rating", 4.23, np.nan, (0.5, 5.0)) == \
        "predicted rating 4.2 on 0.5-5"
    assert explain.preference_fraction(2.75, np.nan, (0.5, 5.0)) == 0.5
    assert explain.preference_text("predicted preference", 0.8, 0.97, None) == \
        "predicted preference: top 3% of the catalog"


def test_the_cards_draw_a_rating_on_the_catalogs_scale() -> None:
    from workbench.dashboard.cards import preference_bar

    bar = preference_bar(7.0, np.nan, (1.0, 10.0))
    assert "predicted rating 7.0 / 10" in bar and "width:67%" in bar
    assert "preference top 3%" in preference_bar(0.2, 0.975, None)
    assert explain.similarity_label(False) == "title + genres similarity"
