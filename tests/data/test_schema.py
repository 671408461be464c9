"""Schema violations in fixtures give a clear error naming the column and the row."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.data.schema import SchemaError, validate_interactions, validate_items
from workbench.data.toy import make_toy


@pytest.fixture
def toy():
    return make_toy()


def test_toy_tables_are_valid(toy) -> None:
    from workbench.data.prepare import PrepareReport, finalize_items

    items = finalize_items(toy.items, PrepareReport("toy"))
    validate_interactions(toy.interactions.sort_values(["user_id", "item_id"]), (1, 5), items)


def _items(toy) -> pd.DataFrame:
    from workbench.data.prepare import PrepareReport, finalize_items

    return finalize_items(toy.items, PrepareReport("toy"))


@pytest.mark.reliability
def test_out_of_range_year_names_column_row_and_id(toy) -> None:
    items = _items(toy)
    items.loc[3, "year"] = 3024
    with pytest.raises(SchemaError) as err:
        validate_items(items)
    message = str(err.value)
    assert "column 'year', row 3" in message
    assert f"item_id={int(items.loc[3, 'item_id'])}" in message
    assert "3024" in message


def test_genres_must_be_a_list_of_strings(toy) -> None:
    items = _items(toy)
    items.at[5, "genres"] = "Action|Drama"
    with pytest.raises(SchemaError, match=r"column 'genres', row 5 .*Action\|Drama"):
        validate_items(items)


def test_duplicate_item_id_and_blank_title(toy) -> None:
    items = _items(toy)
    items.loc[1, "item_id"] = items.loc[0, "item_id"]
    items.loc[2, "title"] = "   "
    with pytest.raises(SchemaError) as err:
        validate_items(items)
    assert "column 'item_id'" in str(err.value)
    assert "column 'title', row 2" in str(err.value)


def test_missing_and_extra_columns(toy) -> None:
    items = _items(toy).drop(columns=["genres"]).assign(budget=1)
    with pytest.raises(SchemaError, match="genres"):
        validate_items(items)


@pytest.mark.reliability
def test_rating_outside_scale_names_row_and_user() -> None:
    inter = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "item_id": [10, 10, 11],
            "rating": [4.0, 11.0, 3.0],
            "timestamp": pd.array([1, 2, None], dtype="Int64"),
        }
    )
    with pytest.raises(SchemaError, match=r"column 'rating', row 1 \(user_id=2\): value 11.0"):
        validate_interactions(inter, (1, 10))


def test_duplicate_pairs_and_unknown_items_are_errors() -> None:
    inter = pd.DataFrame(
        {
            "user_id": [1, 1],
            "item_id": [10, 10],
            "rating": [4.0, 3.0],
            "timestamp": pd.array([None, None], dtype="Int64"),
        }
    )
    with pytest.raises(SchemaError, match="user_id"):
        validate_interactions(inter, (1, 5))
    items = pd.DataFrame({"item_id": [99]})
    with pytest.raises(SchemaError, match="item_id 10 is not in the items table"):
        validate_interactions(inter.iloc[:1], (1, 5), items)


def test_display_title_shows_a_year_once_and_no_missing_year() -> None:
    import pandas as pd

    from workbench.data import display_title

    assert display_title("Akira", 1988) == "Akira (1988)"
    assert display_title("Hashire Melos (1981)", 1981) == "Hashire Melos (1981)"
    assert display_title("Akira", pd.NA) == display_title("Akira", None) == "Akira"
    assert display_title("Akira", float("nan")) == "Akira"
    assert display_title("Akira", pd.array([1988], dtype="Int64")[0]) == "Akira (1988)"


@pytest.mark.reliability
def test_safe_image_url_accepts_only_plain_https() -> None:
    from workbench.data import safe_image_url

    assert safe_image_url("https://image.tmdb.org/t/p/w185/a.jpg") == \
        "https://image.tmdb.org/t/p/w185/a.jpg"
    for bad in ['https://x/a.jpg" onerror="alert(1)', "javascript:alert(1)", "http://x/a.jpg",
                "data:image/png;base64,AAAA", "https://x/a b.jpg", None, 3, ""]:
        assert safe_image_url(bad) is None, bad
