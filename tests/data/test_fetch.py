"""fetch: mirror copy, sha256 verification, public-origin download over real HTTP, errors."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import requests

from workbench import WorkbenchError
from workbench.data import registry
from workbench.data.fetch import FetchError, fetch
from workbench.settings import Settings

CONTENT = b"user_id,item_id,rating\r\n1,10,4.5\r\n2,10,3.0"
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on a free loopback port serving tmp_path/origin."""
    root = tmp_path / "origin"
    root.mkdir()
    with zipfile.ZipFile(root / "ratings.zip", "w") as zf:
        zf.writestr("ratings.csv", CONTENT)
    (root / "ratings.csv").write_bytes(CONTENT)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _register(monkeypatch, url: str, member: str | None = None, sha: str = SHA) -> None:
    spec = registry.DatasetSpec(
        name="tiny",
        title="tiny",
        description="test",
        license="test",
        files=(registry.RawFile("ratings.csv", sha, "tiny/ratings.csv.gz", url, member=member),),
    )
    monkeypatch.setitem(registry.DATASETS, "tiny", spec)


def _mirror(tmp_path: Path, content: bytes) -> Path:
    mirror = tmp_path / "mirror"
    (mirror / "tiny").mkdir(parents=True)
    (mirror / "tiny" / "ratings.csv.gz").write_bytes(gzip.compress(content))
    return mirror


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_mirror_copy_is_decompressed_verified_then_cached(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, "http://127.0.0.1:9/unused")
    settings = Settings(home=tmp_path / "home", data_mirror=_mirror(tmp_path, CONTENT))
    [first] = fetch("tiny", settings)
    assert first.source.startswith("mirror:")
    assert (settings.raw_dir("tiny") / "ratings.csv").read_bytes() == CONTENT
    [second] = fetch("tiny", settings)
    assert second.source == "cached"


def test_bad_checksum_errors_and_leaves_nothing(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, "http://127.0.0.1:9/unused")
    settings = Settings(home=tmp_path / "home", data_mirror=_mirror(tmp_path, CONTENT + b"x"))
    with pytest.raises(FetchError, match=r"checksum mismatch for ratings\.csv") as err:
        fetch("tiny", settings)
    assert SHA in str(err.value)
    assert "WORKBENCH_DATA_MIRROR" in str(err.value)
    assert _files(settings.raw_dir("tiny")) == []


@pytest.mark.reliability
def test_bad_checksum_keeps_the_previous_verified_file(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, "http://127.0.0.1:9/unused")
    good = Settings(home=tmp_path / "home", data_mirror=_mirror(tmp_path, CONTENT))
    fetch("tiny", good)
    (tmp_path / "mirror" / "tiny" / "ratings.csv.gz").write_bytes(gzip.compress(b"corrupt"))
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch("tiny", good, force=True)
    assert _files(good.raw_dir("tiny")) == ["ratings.csv"]
    assert (good.raw_dir("tiny") / "ratings.csv").read_bytes() == CONTENT


@pytest.mark.reliability
def test_corrupt_gzip_in_mirror_is_a_clear_error(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, "http://127.0.0.1:9/unused")
    mirror = _mirror(tmp_path, CONTENT)
    (mirror / "tiny" / "ratings.csv.gz").write_bytes(b"\x1f\x8b not really gzip")
    settings = Settings(home=tmp_path / "home", data_mirror=mirror)
    with pytest.raises(FetchError, match=r"ratings\.csv\.gz"):
        fetch("tiny", settings)
    assert _files(settings.raw_dir("tiny")) == []


def test_download_from_origin_extracts_zip_member(tmp_path, monkeypatch, origin) -> None:
    _register(monkeypatch, f"{origin}/ratings.zip", member="ratings.csv")
    settings = Settings(home=tmp_path / "home", data_mirror=tmp_path / "empty-mirror")
    [fetched] = fetch("tiny", settings)
    assert fetched.source == f"download:{origin}/ratings.zip"
    assert (settings.raw_dir("tiny") / "ratings.csv").read_bytes() == CONTENT


@pytest.mark.reliability
def test_download_with_wrong_checksum_writes_nothing(tmp_path, monkeypatch, origin) -> None:
    _register(monkeypatch, f"{origin}/ratings.csv", sha="0" * 64)
    settings = Settings(home=tmp_path / "home", data_mirror=None)
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch("tiny", settings)
    assert _files(settings.raw_dir("tiny")) == []


def test_no_source_reachable_says_what_to_set(tmp_path, monkeypatch, origin) -> None:
    _register(monkeypatch, f"{origin}/missing.csv")
    settings = Settings(home=tmp_path / "home", data_mirror=tmp_path / "empty-mirror")
    with pytest.raises(FetchError) as err:
        fetch("tiny", settings)
    message = str(err.value)
    assert "has no tiny/ratings.csv.gz" in message
    assert "404" in message
    assert "Set WORKBENCH_DATA_MIRROR" in message


def test_offline_is_a_clear_error(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, "https://example.invalid/ratings.csv")

    def offline(*args, **kwargs):
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(requests, "get", offline)
    settings = Settings(home=tmp_path / "home", data_mirror=None)
    with pytest.raises(FetchError, match=r"no mirror folder is set.*ConnectionError"):
        fetch("tiny", settings)


def test_unknown_dataset_lists_known_names(settings) -> None:
    with pytest.raises(WorkbenchError, match="unknown dataset 'nope'; known datasets: anime"):
        fetch("nope", settings)


def test_registry_sha256_matches_the_shared_mirror() -> None:
    """Every registered file in ../shared/data has the sha256 the registry records."""
    from tests.helpers import require_mirror

    mirror = require_mirror()
    for spec in registry.DATASETS.values():
        for raw in spec.files:
            path = mirror / raw.mirror
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.GzipFile(fileobj=io.BytesIO(data)).read()
            assert hashlib.sha256(data).hexdigest() == raw.sha256, raw.mirror
