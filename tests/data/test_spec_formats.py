"""The spec keys for files as research datasets ship them (MovieLens' ``.dat``): no header row
(``names``), a multi-character delimiter (``::``), an encoding (ISO-8859-1), gzip, a title
with its year (``split_year``), item text in a JSON file keyed by id, and raw files fetched
and verified by sha256 (``files``). Each on a small generated fixture."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from workbench import data
from workbench.data.fetch import FetchError
from workbench.data.registry import register_spec
from workbench.data.spec import SpecError
from workbench.settings import Settings

MOVIES = ["1::Amélie (2001)::Comedy|Romance", "2::2001: A Space Odyssey (1968)::Sci-Fi",
          "3::Untitled Project::Drama", "4::Café Society (2016)::Comedy|Drama|Comedy"]
RATINGS = ["10::1::5::978300760", "10::2::3::978300761", "11::1::4::978300762",
           "11::3::2::978300763", "11::9::4::978300764"]
TEXTS = {"1": "A shy waitress in Montmartre.", "2": "  A voyage\nto Jupiter. ", "99": "gone",
         "x": "not an id", "4": None}


@pytest.fixture
def home(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", data_mirror=tmp_path / "no-mirror")


def _spec(**changes) -> dict:
    spec = {
        "name": "dats", "rating_scale": [1, 5],
        "items": {"file": "movies.dat", "delimiter": "::", "encoding": "iso-8859-1",
                  "names": ["id", "title", "genres"],
                  "columns": {"item_id": "id", "title": {"column": "title", "split_year": True},
                              "genres": {"column": "genres", "sep": "|"},
                              "text": {"file": "texts.json.gz"}}},
        "interactions": {"file": "ratings.dat.gz", "delimiter": "::",
                         "names": ["user", "movie", "stars", "when"],
                         "columns": {"user_id": "user", "item_id": "movie", "rating": "stars",
                                     "timestamp": "when"}},
    }
    spec.update(changes)
    return spec


def _write(folder: Path, spec: dict) -> Path:
    """The fixture files (movies in ISO-8859-1, ratings gzip-compressed) and the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.dat").write_bytes("\n".join(MOVIES).encode("iso-8859-1") + b"\n")
    (folder / "ratings.dat.gz").write_bytes(gzip.compress("\n".join(RATINGS).encode() + b"\n"))
    (folder / "texts.json.gz").write_bytes(gzip.compress(json.dumps(TEXTS).encode()))
    path = folder / "dats.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_dat_files_without_header_in_latin1_and_gzip_prepare(tmp_path, home) -> None:
    register_spec(_write(tmp_path / "files", _spec()), home)
    report = data.prepare("dats", home)
    items = data.load_items("dats", home).set_index("item_id")
    inter = data.load_interactions("dats", home)
    assert items.loc[1, "title"] == "Amélie" and items.loc[1, "year"] == 2001  # latin-1
    assert items.loc[2, "title"] == "2001: A Space Odyssey" and items.loc[2, "year"] == 1968
    assert items.loc[3, "title"] == "Untitled Project" and items["year"].isna().sum() == 1
    assert items.loc[4, "genres"] == ["Comedy", "Drama"]
    assert items.loc[1, "text"] == "A shy waitress in Montmartre."
    assert items.loc[2, "text"] == "A voyage to Jupiter." and items["text"].isna().sum() == 2
    assert len(inter) == 4 and inter["timestamp"].min() == 978300760  # 9 is off the catalog
    assert report.inputs == {"movies.dat": 4, "texts.json.gz": 5, "ratings.dat.gz": 5}
    issues = {reason: issue.count for reason, issue in report.issues.items()}
    assert issues["texts.json.gz: key not a whole-number item id"] == 1
    assert issues["texts.json.gz: value not a text"] == 1
    assert issues["texts.json.gz: item not in the catalog"] == 1
    assert issues["movies.dat title: no trailing (year) to split off"] == 1
    assert "Plot text: 2 of the 3 rated items (66.7%)" in " ".join(report.notes)


def test_placeholder_texts_are_no_text(tmp_path, home) -> None:
    """ml1m's abstracts hold stand-ins ("Abstract not found.", "Movie: X (1997), Genres:
    [...]"): a ``placeholder`` pattern they match whole nulls them, counted."""
    spec = _spec()
    spec["items"]["columns"]["text"]["placeholder"] = r"Abstract not found\.|Movie: .*"
    folder = tmp_path / "files"
    _write(folder, spec)
    texts = {**TEXTS, "1": "Abstract not found.", "4": " Movie: Café Society (2016) "}
    (folder / "texts.json.gz").write_bytes(gzip.compress(json.dumps(texts).encode()))
    register_spec(folder / "dats.yaml", home)
    report = data.prepare("dats", home)
    items = data.load_items("dats", home).set_index("item_id")
    assert items["text"].isna().tolist() == [True, False, True, True]
    issue = report.issues["texts.json.gz: placeholder text (matches 'Abstract not "
                          "found\\\\.|Movie: .*')"]
    assert (issue.action, issue.count) == ("nulled", 2)
    spec["items"]["columns"]["text"]["placeholder"] = "(unclosed"
    with pytest.raises(SpecError, match=r"placeholder.*not a regular expression"):
        register_spec(_write(tmp_path / "bad", spec), home)


def test_a_single_character_delimiter_without_header_and_a_quoted_field(tmp_path,
                                                                        home) -> None:
    spec = _spec()
    spec["items"].update(file="movies.csv", delimiter=",", encoding="utf-8")
    spec["items"]["columns"].pop("text")
    folder = tmp_path / "files"
    _write(folder, spec)
    (folder / "movies.csv").write_text('1,"Heat, The (1995)",Crime\n2,Up (2009),Animation\n')
    register_spec(folder / "dats.yaml", home)
    data.prepare("dats", home)
    items = data.load_items("dats", home).set_index("item_id")
    assert items.loc[1, "title"] == "Heat, The" and items.loc[1, "year"] == 1995


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["items"].update(names=["id", "title"]),
     r"items\.names: the first line of movies\.dat has 3 field\(s\) when split on '::' "
     r"\(1, Amélie \(2001\), Comedy\|Romance\) but names lists 2"),
    (lambda s: s["items"].update(delimiter=";"),
     r"items\.names: the first line of movies\.dat has 1 field\(s\) when split on ';'"),
    (lambda s: s["items"]["columns"].update(item_id="movie_id"),
     r"items\.columns\.item_id: movies\.dat has no column 'movie_id' \(its columns: id, "
     r"title, genres\)"),
    (lambda s: s["items"].update(names=["id", "id", "genres"]),
     r"items\.names: .*must differ"),
    (lambda s: s["items"]["columns"]["text"].update(file="nowhere.json"),
     r"items\.columns\.text\.file: .*nowhere\.json does not exist"),
    (lambda s: s["items"].update(encoding="utf-8"),
     r"items\.encoding: cannot read .*movies\.dat as 'utf-8'"),
])
def test_a_bad_dat_spec_names_the_key(tmp_path, home, change, message) -> None:
    spec = _spec()
    change(spec)
    with pytest.raises(SpecError, match=message):
        register_spec(_write(tmp_path / "files", spec), home)


def _sha(path: Path) -> str:
    return hashlib.sha256(gzip.decompress(path.read_bytes()) if path.suffix == ".gz"
                          else path.read_bytes()).hexdigest()


def _fetched_spec(mirror: Path) -> dict:
    """The fixture as a spec that fetches its files from a mirror (``files``)."""
    spec = _spec()
    src = _write(mirror / "dats", spec).parent
    spec["files"] = [{"name": name.removesuffix(".gz"), "sha256": _sha(src / name),
                      "mirror": f"dats/{name}"}
                     for name in ("movies.dat", "ratings.dat.gz", "texts.json.gz")]
    spec["items"]["columns"]["text"]["file"] = "texts.json"
    spec["interactions"]["file"] = "ratings.dat"
    return spec


def test_a_spec_with_files_fetches_them_verified_then_prepares(tmp_path) -> None:
    mirror = tmp_path / "mirror"
    settings = Settings(home=tmp_path / "home", data_mirror=mirror)
    spec_file = tmp_path / "spec" / "dats.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text(yaml.safe_dump(_fetched_spec(mirror)))
    register_spec(spec_file, settings)
    fetched = data.fetch("dats", settings)
    assert [f.name for f in fetched] == ["movies.dat", "ratings.dat", "texts.json"]
    assert (settings.raw_dir("dats") / "ratings.dat").read_bytes().startswith(b"10::1::5")
    data.prepare("dats", settings)
    assert len(data.load_interactions("dats", settings)) == 4


def test_a_spec_with_files_refuses_a_wrong_checksum_and_an_unknown_name(tmp_path) -> None:
    mirror = tmp_path / "mirror"
    settings = Settings(home=tmp_path / "home", data_mirror=mirror)
    spec = _fetched_spec(mirror)
    spec["files"][0]["sha256"] = "0" * 64
    spec_file = tmp_path / "dats.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    register_spec(spec_file, settings)
    with pytest.raises(FetchError, match=r"checksum mismatch for movies\.dat"):
        data.fetch("dats", settings)
    assert not (settings.raw_dir("dats") / "movies.dat").exists()
    spec["items"]["file"] = "films.dat"
    spec_file.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"items\.file: 'films\.dat' is not one of the fetched "
                                        r"files \(movies\.dat, ratings\.dat, texts\.json\)"):
        register_spec(spec_file, settings)


def test_a_fetched_file_no_mirror_holds_and_without_url_is_one_error(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home", data_mirror=tmp_path / "empty-mirror")
    (tmp_path / "empty-mirror").mkdir()
    spec = _fetched_spec(tmp_path / "elsewhere")
    (tmp_path / "dats.yaml").write_text(yaml.safe_dump(spec))
    register_spec(tmp_path / "dats.yaml", settings)
    with pytest.raises(FetchError, match=r"cannot fetch movies\.dat of dataset 'dats': the "
                                         r"mirror .* has no dats/movies\.dat, and it has no url"):
        data.fetch("dats", settings)


def test_an_empty_file_without_header_is_refused(tmp_path, home) -> None:
    folder = tmp_path / "files"
    _write(folder, _spec())
    (folder / "movies.dat").write_bytes(b"")
    with pytest.raises(SpecError, match=r"items\.file: movies\.dat has no data rows; give a "
                                        r"file with at least one row"):
        register_spec(folder / "dats.yaml", home)
