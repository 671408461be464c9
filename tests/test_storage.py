from pathlib import Path

import pandas as pd
import pytest

from workbench import storage


@pytest.mark.reliability
def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.json"
    storage.write_json(target, {"a": 1})
    storage.write_json(target, {"a": 2})
    assert target.read_text().strip().endswith("}")
    assert '"a": 2' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


@pytest.mark.reliability
def test_failed_write_keeps_previous_version_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    storage.write_parquet(target, pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(RuntimeError), storage.atomic_path(target, suffix=".parquet") as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("interrupted")
    assert pd.read_parquet(target)["x"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


@pytest.mark.reliability
def test_replace_folder_swaps_and_puts_the_old_folder_back_on_failure(tmp_path,
                                                                       monkeypatch) -> None:
    import os

    from workbench.storage import replace_folder

    target, new = tmp_path / "model", tmp_path / "new"
    target.mkdir()
    (target / "v").write_text("old")
    new.mkdir()
    (new / "v").write_text("new")
    replace_folder(new, target, copy=True, prepare=lambda staged: (staged / "x").write_text("1"))
    assert (target / "v").read_text() == "new" and (target / "x").is_file()
    assert (new / "v").is_file()  # a copy leaves the source in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "new"]  # no leftovers
    (new / "v").write_text("newer")
    real = os.replace

    def failing(src, dst):  # the staged copy cannot be moved into place
        if ".model.tmp-" in str(src):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        replace_folder(new, target, copy=True)
    monkeypatch.setattr(os, "replace", real)
    assert (target / "v").read_text() == "new"  # the old folder is back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "new"]


def test_read_yaml_names_the_file_and_what_is_wrong(tmp_path) -> None:
    import pytest

    from workbench.storage import read_yaml

    class Refused(Exception):
        pass

    (tmp_path / "ok.yaml").write_text("a: 1\n")
    assert read_yaml(tmp_path / "ok.yaml", "sweep file") == {"a": 1}
    (tmp_path / "bad.yaml").write_text("a: [unclosed\n")
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    for name, message in (("missing.yaml", "does not exist"), ("bad.yaml", "not valid YAML"),
                          ("latin1.yaml", "not valid YAML"), (".", "is a folder")):
        with pytest.raises(Refused, match=f"^query set {tmp_path / name}.* {message}"):
            read_yaml(tmp_path / name, "query set", Refused)
