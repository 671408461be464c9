from __future__ import annotations

from workbench import data
from workbench.data.toy import PLANTED_PAIR, make_toy


def test_toy_is_deterministic() -> None:
    a, b = make_toy(), make_toy()
    assert a.items.drop(columns=["genres", "alt_titles", "keywords", "companies"]).equals(
        b.items.drop(columns=["genres", "alt_titles", "keywords", "companies"])
    )
    assert a.interactions.equals(b.interactions)
    assert not a.interactions.equals(make_toy(seed=1).interactions)


def test_prepare_toy_writes_validated_tables_and_splits(settings) -> None:
    report = data.prepare("toy", settings)
    items = data.load_items("toy", settings)
    inter = data.load_interactions("toy", settings)
    assert set(PLANTED_PAIR) <= set(items["item_id"])
    assert report.outputs["items"] == len(items) == 50
    assert report.outputs["users"] == inter["user_id"].nunique() == 30
    split = data.load_split("toy", "leave_last_out", settings)
    assert len(split.test) == 30 and len(split.train) + len(split.test) == len(inter)
    latest = inter.sort_values("timestamp").groupby("user_id").tail(1)
    assert set(zip(split.test.user_id, split.test.item_id, strict=True)) == set(
        zip(latest.user_id, latest.item_id, strict=True)
    )
    assert isinstance(items["genres"].iloc[0], list)


def test_loading_before_prepare_names_the_command(settings) -> None:
    import pytest

    from workbench import WorkbenchError

    with pytest.raises(WorkbenchError, match="workbench data prepare toy"):
        data.load_items("toy", settings)


def test_corrupt_table_is_a_clear_error(settings) -> None:
    import pytest

    from workbench import WorkbenchError

    data.prepare("toy", settings)
    (settings.processed_dir("toy") / "items.parquet").write_bytes(b"not parquet")
    with pytest.raises(WorkbenchError, match=r"items\.parquet is corrupt"):
        data.load_items("toy", settings)
