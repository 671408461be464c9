"""Bring your own dataset: a spec file and two CSV files the project has never seen, no Python
touched. Bad specs are refused by file, key and fix; a good one prepares into the schema (and
runs the whole main job: tests/test_pipeline.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers.bookshop import SPEC, write_bookshop
from workbench import WorkbenchError, data
from workbench.data.registry import load_user_spec
from workbench.data.spec import SpecError
from workbench.settings import Settings


@pytest.fixture
def home(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")


def _add(spec_path: Path, settings: Settings) -> None:
    target = settings.datasets_dir / spec_path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load(spec_path.read_text())
    for part in ("items", "interactions"):
        spec[part]["file"] = str(spec_path.parent / spec[part]["file"])
    target.write_text(yaml.safe_dump(spec))


def test_a_spec_dataset_prepares_into_the_schema(tmp_path, home) -> None:
    _add(write_bookshop(tmp_path / "files"), home)
    report = data.prepare("bookshop", home)
    items = data.load_items("bookshop", home)
    inter = data.load_interactions("bookshop", home)
    assert len(items) == 60 and items["text"].isna().all()
    assert items.loc[items["item_id"] == 100, "genres"].iloc[0] == ["Mystery", "Classic"]
    assert items["year"].between(1950, 2020).all()
    assert len(inter) == 480 and inter["timestamp"].min() == 1704103200  # 2024-01-01 10:00 UTC
    assert any("embeds title and genres" in note for note in report.notes)
    assert "bookshop" in data.all_datasets(home)


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["items"]["columns"].update(title="titel"),
     r"items\.columns\.title: books\.csv has no column 'titel' \(its columns: book_id, name"),
    (lambda s: s["items"].update(colums={}), r"items\.colums: unknown key"),
    (lambda s: s.update(name="movies"), r"name: 'movies' is a built-in dataset"),
    (lambda s: s.update(name="Book Shop"), r"name: String should match"),
    (lambda s: s.pop("rating_scale"), r"rating_scale: required with a rating column"),
    (lambda s: s["interactions"].pop("columns"), r"interactions\.columns: required key"),
    (lambda s: s["items"].update(file="nowhere.csv"), r"items\.file: .*nowhere\.csv does not"),
])
def test_a_bad_spec_names_the_file_the_key_and_the_fix(tmp_path, home, change,
                                                       message) -> None:
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    change(spec)
    _add(write_bookshop(tmp_path / "files", spec), home)
    with pytest.raises(SpecError, match=message) as caught:
        load_user_spec(home.datasets_dir / "bookshop.yaml")  # what `data add` checks first
        data.prepare("bookshop", home)  # then the files: headers and delimiter
    assert "bookshop.yaml" in str(caught.value)


def test_a_wrong_delimiter_is_named_with_the_right_one(tmp_path, home) -> None:
    _add(write_bookshop(tmp_path / "files", delimiter=";"), home)
    with pytest.raises(SpecError, match=r"items\.delimiter: .*set items\.delimiter: ';'"):
        data.prepare("bookshop", home)


def test_a_rating_outside_the_scale_names_the_spec_and_the_row(tmp_path, home) -> None:
    _add(write_bookshop(tmp_path / "files", bad_rating=True), home)
    with pytest.raises(WorkbenchError, match=r"(?s)bookshop\.yaml.*rating.*7.*rating_scale"):
        data.prepare("bookshop", home)


def test_without_a_rating_column_feedback_is_implicit(tmp_path, home) -> None:
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    spec["interactions"]["columns"].pop("rating")
    spec.pop("rating_scale")
    _add(write_bookshop(tmp_path / "files", spec), home)
    data.prepare("bookshop", home)
    assert set(data.load_interactions("bookshop", home)["rating"]) == {1.0}
