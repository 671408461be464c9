"""Unit tests of the prepare helpers: parsing, counting, weighted rating."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.data.anime import PLACEHOLDER_SYNOPSIS, parse_duration_minutes, parse_first_year
from workbench.data.prepare import (
    PrepareError,
    PrepareReport,
    parse_numbers,
    read_source_csv,
    split_list,
    weighted_rating,
)


def test_weighted_rating_matches_hand_computation() -> None:
    r = pd.Series([8.0, 6.0, 4.0, np.nan])
    v = pd.Series([100, 10, 0, 5], dtype="Int64")
    wr, params = weighted_rating(r, v, quantile=0.5)
    c, m = (8.0 + 6.0) / 2, 55.0  # rated = items 0 and 1; median of [100, 10]
    assert params == pytest.approx({"C": c, "m": m, "quantile": 0.5})
    assert wr[0] == pytest.approx(100 / 155 * 8 + 55 / 155 * c)
    assert wr[1] == pytest.approx(10 / 65 * 6 + 55 / 65 * c)
    assert wr[2] == pytest.approx(c)  # no votes: the prior
    assert np.isnan(wr[3])  # no rating: null, not invented


def test_malformed_csv_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"user_id,anime_id,rating\r\n1,2,3\r\n4,5\r\n6,7,8,9\r\n10,11,12")
    report = PrepareReport("t")
    frame = read_source_csv(path, report)
    assert frame.values.tolist() == [["1", "2", "3"], ["10", "11", "12"]]
    assert report.inputs["ratings.csv"] == 4
    [issue] = report.issues.values()
    assert (issue.action, issue.count) == ("skipped", 2)


def test_missing_raw_file_says_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(PrepareError, match="workbench data fetch anime"):
        read_source_csv(tmp_path / "nope.csv", PrepareReport("anime"))


def test_parse_numbers_counts_placeholders_and_malformed() -> None:
    report = PrepareReport("t")
    out = parse_numbers(pd.Series(["1.5", "Unknown", "abc", None]), report, "col", ("Unknown",))
    assert out.tolist()[:1] == [1.5] and out[1:].isna().all()
    counts = {reason: issue.count for reason, issue in report.issues.items()}
    assert counts == {"col: placeholder Unknown": 1, "col: malformed number": 1}


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("24 min. per ep.", 24.0), ("1 hr. 55 min.", 115.0), ("2 hr.", 120.0),
     ("30 sec.", 0.5), ("Unknown", None), (None, None)],
)
def test_parse_duration(text, minutes) -> None:
    assert parse_duration_minutes(text) == minutes


@pytest.mark.parametrize(
    ("aired", "year"),
    [("Apr 3, 1998 to Apr 24, 1999", 1998), ("2011", 2011), ("Unknown", None),
     ("Not available", None)],
)
def test_parse_first_year(aired, year) -> None:
    assert parse_first_year(aired) == year


def test_placeholder_synopses_are_recognised() -> None:
    assert PLACEHOLDER_SYNOPSIS.match(
        "No synopsis information has been added to this title. Help improve our database"
    )
    assert PLACEHOLDER_SYNOPSIS.match("No synopsis has been added for this series yet.")
    assert not PLACEHOLDER_SYNOPSIS.match("No Game No Life is a surreal comedy")


def test_split_list_drops_placeholders_and_duplicates() -> None:
    out = split_list(pd.Series(["Action, Drama, Action", "Unknown", None]), ",", ("Unknown",))
    assert out.tolist() == [["Action", "Drama"], [], []]
