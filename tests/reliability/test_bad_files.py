"""Bad data files and spec files (issue 26), through the CLI: `workbench data add` and
`workbench data prepare` on a generated bookshop (tests/helpers/bookshop.py) with one file
spoiled, sweep files that are not YAML or expand without bound, and a full disk.

Each case must end in exactly one ``error:`` line (at most :data:`MAX_LINE` characters) that
names the problem and the input (the file, its line where it has one) and says the fix; a
traceback or an "unexpected" error (the CLI's label for a bug) fails, and so does anything
left half-written. Every case reads small files the test writes: no pipeline runs.
"""

from __future__ import annotations

import copy
import errno
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.helpers.bookshop import SPEC, write_bookshop
from workbench.cli import app
from workbench.settings import get_settings

MAX_LINE = 1000
"""The longest error line a case accepts (an echoed value is cut to 200 characters)."""

BOMB = "".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    + [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi",
                                                                      strict=True)])
"""A "billion laughs" file: nine nested lists of nine aliases, 10^9 values written out."""


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(tmp_path / "none"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _one_error_line(result, *expected: str) -> str:
    """The one ``error:`` line of a refused command, holding every ``expected`` phrase."""
    output = result.output
    assert result.exit_code == 1, output
    assert "Traceback" not in output and "unexpected" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output[:2000]
    assert len(lines[0]) <= MAX_LINE, lines[0][:2000]
    for phrase in expected:
        assert phrase in lines[0], lines[0]
    return lines[0]


def _bookshop(folder: Path, spec_change=None, spoil=None) -> Path:
    """The bookshop's spec file, its spec changed and its files spoiled as asked."""
    spec = copy.deepcopy(SPEC)
    if spec_change:
        spec_change(spec)
    path = write_bookshop(folder, spec)
    if spoil:
        spoil(folder)
    return path


def _header_only(name: str):
    def spoil(folder: Path) -> None:
        path = folder / name
        path.write_text(path.read_text().splitlines()[0] + "\n")
    return spoil


BIG_FIELD = "x" * 200_000

ADD_CASES = {
    # id: (spec change, spoiling of the files, phrases the error line holds)
    "items-file-a-folder": (lambda s: s["items"].update(file="shelf"),
                            lambda f: (f / "shelf").mkdir(), ["items.file", "shelf",
                                                              "is a folder"]),
    "interactions-file-a-device": (lambda s: s["interactions"].update(file="/dev/zero"), None,
                                   ["interactions.file", "/dev/zero", "not a regular file"]),
    "no-line-end-in-1-mb": (None, lambda f: (f / "ratings.csv").write_bytes(b"\0" * (3 << 20)),
                            ["interactions.file", "ratings.csv",
                             "no line end in the first 1 MB"]),
    "header-field-over-128-kb": (
        None, lambda f: (f / "books.csv").write_text(f"book_id,name,tags,{BIG_FIELD}\n1,a,b,c\n"),
        ["items.file", "books.csv, line 1", "131,072 characters", "fix the file's first line"]),
    "header-quote-never-closed": (
        None, lambda f: (f / "books.csv").write_text('book_id,name,"tags,published\n'
                                                     + "1,a,b,2000\n" * 20_000),
        ["books.csv, line 1", "a quote that is never closed"]),
    "rating-scale-nan": (lambda s: s.update(rating_scale=[float("nan"), 5]), None,
                         ["rating_scale.0", "finite", "nan"]),
    "rating-scale-inf": (lambda s: s.update(rating_scale=[1, float("inf")]), None,
                         ["rating_scale.1", "finite", "inf"]),
    "ratings-only-a-header": (None, _header_only("ratings.csv"),
                              ["interactions.file", "ratings.csv", "no data rows"]),
    "items-only-a-header": (None, _header_only("books.csv"),
                            ["items.file", "books.csv", "no data rows"]),
    "items-empty": (None, lambda f: (f / "books.csv").write_text(""),
                    ["items.file", "books.csv is empty"]),
}


@pytest.mark.parametrize("case", list(ADD_CASES))
def test_data_add_refuses_a_bad_file_in_one_line(cli, tmp_path, case) -> None:
    spec_change, spoil, expected = ADD_CASES[case]
    spec_file = _bookshop(tmp_path / "files", spec_change, spoil)
    _one_error_line(cli.invoke(app, ["data", "add", str(spec_file)]), str(spec_file),
                    *expected)
    assert not (tmp_path / "home" / "datasets" / "bookshop.yaml").exists()


def test_an_empty_parquet_file_is_refused(cli, tmp_path) -> None:
    spec_file = _bookshop(tmp_path / "files", lambda s: s["interactions"].update(
        file="ratings.parquet"))
    pd.DataFrame({c: pd.Series(dtype="int64") for c in ("reader", "book", "stars", "when")}
                 ).to_parquet(tmp_path / "files" / "ratings.parquet")
    _one_error_line(cli.invoke(app, ["data", "add", str(spec_file)]), "interactions.file",
                    "ratings.parquet has no data rows;")


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
def test_an_excel_csv_utf8_file_with_a_byte_order_mark_prepares(cli, tmp_path,
                                                                quoted) -> None:
    """Excel's "CSV UTF-8" starts with a byte order mark (and may quote the header): it is
    read as UTF-8 without it, so the first column keeps its name."""
    def spoil(folder: Path) -> None:
        for name in ("books.csv", "ratings.csv"):
            text = (folder / name).read_text()
            if quoted:
                head, _, rest = text.partition("\n")
                text = ",".join(f'"{n}"' for n in head.split(",")) + "\n" + rest
            (folder / name).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())

    spec_file = _bookshop(tmp_path / "files", spoil=spoil)
    result = cli.invoke(app, ["data", "add", str(spec_file)])
    assert result.exit_code == 0, result.output
    result = cli.invoke(app, ["data", "prepare", "bookshop"])
    assert result.exit_code == 0, result.output
    items = pd.read_parquet(tmp_path / "home" / "data" / "processed" / "bookshop" /
                            "items.parquet")
    assert len(items) == 60 and items["item_id"].min() == 100


PREPARE_CASES = {
    # id: (the spoiling after `data add`, phrases the error line holds)
    "ratings-emptied": (_header_only("ratings.csv"), ["ratings.csv", "no data rows"]),
    "items-header-field-over-128-kb": (
        lambda f: (f / "books.csv").write_text(f"book_id,name,tags,{BIG_FIELD}\n1,a,b,c\n"),
        ["books.csv, line 1", "131,072 characters", "fix the file's first line"]),
    "no-rating-of-a-catalog-item": (
        lambda f: (f / "books.csv").write_text("book_id,name,tags,published\n1,A,B,2000\n"),
        ["no interaction left to prepare", "ratings.csv 480",
         "item not in the catalog (480)"]),
    "no-item-with-an-id": (
        lambda f: (f / "books.csv").write_text("book_id,name,tags,published\nx,A,B,2000\n"),
        ["no item left to prepare", "books.csv 1", "whole-number item_id"]),
}


@pytest.mark.parametrize("case", list(PREPARE_CASES))
def test_prepare_refuses_a_file_spoiled_after_data_add(cli, tmp_path, case) -> None:
    spoil, expected = PREPARE_CASES[case]
    spec_file = _bookshop(tmp_path / "files")
    assert cli.invoke(app, ["data", "add", str(spec_file)]).exit_code == 0
    spoil(tmp_path / "files")
    _one_error_line(cli.invoke(app, ["data", "prepare", "bookshop"]), *expected)
    assert not (tmp_path / "home" / "data" / "processed" / "bookshop").exists()


SWEEPS = {
    # id: (the file's text, phrases the error line holds)
    "billion-laughs": (f"experiment: x\nnotebook: 03_train_collaborative\n"
                       f"variants: [{{name: a}}]\n{BOMB}", ["aliases expand it to",
                                                            "write the values out"]),
    "alias-into-itself": ("experiment: &e [x, *e]\nvariants: [{name: a}]\n",
                          ["an alias refers to a value that contains it"]),
    "yaml-syntax-error": ("experiment: x\nvariants: [{name: a}\ngrid: {model: [mf]}\n",
                          ["not valid YAML: line 3, column 1:", "flow sequence"]),
    "tab-indentation": ("experiment: x\nvariants:\n\t- name: a\n",
                        ["not valid YAML: line 3, column 1:", "'\\t'"]),
    "a-200k-character-value": (f"experiment: x\nvariants: [{{name: a}}]\nbogus: {BIG_FIELD}\n",
                               ["bogus: Extra inputs", "... (200,000 chars)"]),
    "a-5000-digit-integer": ("experiment: x\nvariants: [{name: a, stage: " + "1" * 5000
                             + "}]\n", ["cannot be read", "5000 digits"]),
}


@pytest.mark.parametrize("case", list(SWEEPS))
def test_a_sweep_file_that_is_not_sane_yaml_is_one_short_line(cli, tmp_path, case) -> None:
    text, expected = SWEEPS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    started = time.perf_counter()
    _one_error_line(cli.invoke(app, ["experiments", "run", str(path), "--dry-run"]),
                    str(path), *expected)
    assert time.perf_counter() - started < 30  # not written out: 10^9 values would take hours


def test_a_dataset_spec_that_is_a_billion_laughs_is_refused(cli, tmp_path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(f"name: bomb\n{BOMB}")
    _one_error_line(cli.invoke(app, ["data", "add", str(path)]), str(path),
                    "aliases expand it to")


def test_a_syntax_error_in_a_dataset_spec_names_its_line(cli, tmp_path) -> None:
    spec_file = _bookshop(tmp_path / "files")
    spec_file.write_text(spec_file.read_text().replace("rating_scale:", "rating_scale: [1,"))
    _one_error_line(cli.invoke(app, ["data", "add", str(spec_file)]), str(spec_file),
                    "not valid YAML: line ", "column ")


def test_a_full_disk_names_the_file_and_leaves_nothing_half_written(cli, tmp_path,
                                                                  monkeypatch) -> None:
    spec_file = _bookshop(tmp_path / "files")
    assert cli.invoke(app, ["data", "add", str(spec_file)]).exit_code == 0
    written = []

    def full(self, path, *args, **kwargs):
        written.append(Path(path))
        Path(path).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    line = _one_error_line(cli.invoke(app, ["data", "prepare", "bookshop"]),
                           "no space left on device writing", "free space there and rerun")
    assert written and f"{written[0].parent}" in line
    leftovers = [p for p in (tmp_path / "home").rglob("*") if p.is_file()
                 and (".tmp-" in p.name or p.suffix == ".parquet")]
    assert not leftovers, leftovers


@pytest.mark.parametrize(("code", "filename", "expected"), [
    (errno.ENOSPC, None, "no space left on device writing a file under "),
    (errno.EDQUOT, "/somewhere/datasets/x.yaml", "disk quota exceeded writing "
                                                 "/somewhere/datasets/x.yaml"),
    (None, None, "no space left on device writing a file under "),
], ids=["enospc-no-filename", "edquot-with-filename", "sqlite-full"])
def test_a_full_disk_outside_the_storage_helpers_is_one_line(cli, tmp_path, monkeypatch,
                                                            code, filename, expected) -> None:
    import workbench.data.registry as registry

    def full(spec_file, settings=None):
        if code is None:  # SQLite's own words (MLflow's store), no errno
            raise sqlite3.OperationalError("database or disk is full")
        raise OSError(code, "full", filename)

    monkeypatch.setattr(registry, "register_spec", full)
    spec_file = _bookshop(tmp_path / "files")
    _one_error_line(cli.invoke(app, ["data", "add", str(spec_file)]), expected,
                    "free space there and rerun")
    assert not (tmp_path / "home" / "experiments" / "runs" / "errors.log").exists()


def test_plain_yaml_and_a_few_aliases_still_load(tmp_path) -> None:
    """The refusals above are by what aliases expand to: a spec with an anchor loads, and so
    does a file of 200,000 values written out (no alias)."""
    from workbench.data.spec import load_spec
    from workbench.storage import read_yaml

    spec_file = _bookshop(tmp_path / "files")
    text = spec_file.read_text().replace("title: ", "title: &t ", 1) + "description: *t\n"
    spec_file.write_text(text)
    spec = load_spec(spec_file)
    assert spec.description == spec.title == SPEC["title"]
    many = tmp_path / "many.yaml"
    many.write_text("\n".join(f"- {n}" for n in range(200_000)))
    assert len(read_yaml(many, "query set")) == 200_000
