"""Synthetic data (`workbench data synth`): sizes as asked, structure a model can learn,
written as an ordinary own dataset (Parquet + spec) that prepares into the schema; and the
Parquet side of a spec (native list, number and timestamp columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from workbench import data
from workbench.data.readers import PrepareReport, read_source_csv, split_list
from workbench.data.registry import register_spec
from workbench.data.spec import SpecError
from workbench.data.synth import MIN_PER_USER, SynthError, SynthSize, write_synthetic
from workbench.settings import Settings


@pytest.fixture
def home(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")


def test_synth_writes_a_dataset_that_prepares_and_has_taste(tmp_path, home) -> None:
    result = write_synthetic("syn", SynthSize(2_000, 300, 12_000, seed=3), tmp_path / "syn")
    register_spec(result.spec_file, home)
    report = data.prepare("syn", home)
    items, inter = data.load_items("syn", home), data.load_interactions("syn", home)
    assert len(items) == 2_000 and items["text"].notna().all()
    assert len(inter) == result.interactions and 0.8 * 12_000 < len(inter) <= 12_000
    assert inter.groupby("user_id").size().min() >= MIN_PER_USER
    assert report.outputs["splits"]["leave_last_out"]["method"].startswith("per-user latest")
    # Zipf popularity: the top 1% of items take far more than 1% of the interactions
    counts = inter["item_id"].value_counts()
    assert counts.head(20).sum() > 0.05 * len(inter)
    # taste: a user's top genre covers most of their interactions, and is rated higher
    genre = items.set_index("item_id")["genres"].str[0]
    rows = inter.assign(genre=inter["item_id"].map(genre))
    top = rows.groupby("user_id")["genre"].agg(lambda g: g.value_counts().iloc[0] / len(g))
    assert top.median() > 0.6
    favourite = rows.groupby("user_id")["genre"].agg(lambda g: g.value_counts().index[0])
    liked = rows["genre"] == rows["user_id"].map(favourite)
    assert rows.loc[liked, "rating"].mean() > rows.loc[~liked, "rating"].mean() + 1
    assert data.get_dataset("syn", home).demo_query == "starship galaxy alien"


def test_synth_is_deterministic_and_refuses_impossible_sizes(tmp_path) -> None:
    a = write_synthetic("a", SynthSize(500, 50, 2_000, seed=1), tmp_path / "a")
    b = write_synthetic("a", SynthSize(500, 50, 2_000, seed=1), tmp_path / "b")
    for name in ("items.parquet", "interactions.parquet"):
        assert pq.read_table(a.spec_file.parent / name).equals(
            pq.read_table(b.spec_file.parent / name))
    with pytest.raises(SynthError, match="too few for 100 users"):
        SynthSize(500, 100, 200).check()
    with pytest.raises(SynthError, match="more than half"):
        SynthSize(10, 4, 30).check()
    with pytest.raises(SynthError, match="dataset name 'Big One'"):
        write_synthetic("Big One", SynthSize(500, 50, 2_000), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_parquet_spec_takes_lists_numbers_and_timestamps_as_they_are(tmp_path, home) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(pa.table({
        "id": [1, 2, 3], "name": ["One", "Two", ""],
        "tags": pa.array([["A", " B ", "A"], [], None], pa.list_(pa.string())),
        "released": pd.Series(pd.to_datetime(["1999-05-01", "2010-01-01", None])),
    }), folder / "items.parquet")
    pq.write_table(pa.table({
        "u": [7, 7, 8], "i": [1, 2, 1], "r": [4.0, 5.0, 3.0],
        "t": pd.Series(pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00",
                                       "2024-01-03 00:00"], utc=True)),
    }), folder / "events.pq")
    spec = {"name": "pq", "rating_scale": [1, 5],
            "items": {"file": "items.parquet",
                      "columns": {"item_id": "id", "title": "name", "genres": "tags",
                                  "year": "released"}},
            "interactions": {"file": "events.pq",
                             "columns": {"user_id": "u", "item_id": "i", "rating": "r",
                                         "timestamp": "t"}}}
    (folder / "pq.yaml").write_text(yaml.safe_dump(spec))
    register_spec(folder / "pq.yaml", home)
    report = data.prepare("pq", home)
    items = data.load_items("pq", home)
    assert items["genres"].tolist() == [["A", "B"], []]  # item 3 has no title: skipped
    assert items["year"].tolist() == [1999, 2010]
    inter = data.load_interactions("pq", home)
    assert inter["timestamp"].iloc[0] == 1704103200 and len(inter) == 3
    assert report.inputs == {"items.parquet": 3, "events.pq": 3}
    spec["items"]["columns"]["title"] = "title"
    (folder / "pq.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"items\.columns\.title: items\.parquet has no column "
                                        r"'title' \(its columns: id, name, tags, released\)"):
        register_spec(folder / "pq.yaml", home)
    (folder / "items.parquet").write_text("id,name\n1,One\n")
    spec["items"]["columns"]["title"] = "name"
    (folder / "pq.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"items\.file: .* is not a Parquet file"):
        register_spec(folder / "pq.yaml", home)


def test_split_list_is_vectorised_with_the_same_rules() -> None:
    values = pd.Series(["Drama| Comedy |Drama", None, "N/A", "|", "Action|N/A", "x"],
                       dtype="string")
    out = split_list(values, "|", placeholders=("N/A",))
    assert out.tolist() == [["Drama", "Comedy"], [], [], [], ["Action"], ["x"]]
    assert split_list(pd.Series([None, None], dtype=object), "|").tolist() == [[], []]


def test_csv_reading_keeps_quoted_newlines_and_drops_a_byte_order_mark(tmp_path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes('\ufeffid,plot\r\n1,"two\nlines"\r\n\r\n2,\r\n'.encode())
    frame = read_source_csv(path, PrepareReport("t"))
    assert list(frame.columns) == ["id", "plot"]
    assert frame["plot"].tolist()[0] == "two\nlines" and pd.isna(frame["plot"].iloc[1])
    assert np.array_equal(frame["id"].to_numpy(), ["1", "2"])
