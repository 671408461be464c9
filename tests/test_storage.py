from pathlib import Path

import pandas as pd
import pytest

from workbench import storage


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.json"
    storage.write_json(target, {"a": 1})
    storage.write_json(target, {"a": 2})
    assert target.read_text().strip().endswith("}")
    assert '"a": 2' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_failed_write_keeps_previous_version_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    storage.write_parquet(target, pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(RuntimeError), storage.atomic_path(target, suffix=".parquet") as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("interrupted")
    assert pd.read_parquet(target)["x"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]
