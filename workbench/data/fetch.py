"""Fetch raw files: copy from the mirror or download from the public origin, verify sha256.

Each file is streamed into a temporary file beside its target while its sha256 is computed;
only a verified file is renamed into place, so a bad checksum or an interrupted transfer never
leaves a half-written or unverified file in ``data/raw``.
"""

from __future__ import annotations

import gzip
import hashlib
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests
from tqdm.auto import tqdm

from workbench import WorkbenchError
from workbench.data.registry import DatasetSpec, RawFile, get_dataset
from workbench.settings import Settings, get_settings
from workbench.storage import atomic_path

_CHUNK = 1 << 20


class FetchError(WorkbenchError):
    """A raw file could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class FetchedFile:
    """Where one raw file came from."""

    name: str
    path: Path
    source: str
    """``cached``, ``mirror:<path>`` or ``download:<url>``."""


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, settings: Settings | None = None, force: bool = False) -> list[FetchedFile]:
    """Fetch every raw file of dataset ``name`` into ``settings.raw_dir(name)``.

    A file already there with the right sha256 is kept unless ``force``. Otherwise it is copied
    from ``settings.data_mirror`` when the mirror has it, else downloaded from the public
    origin. Raises :class:`FetchError` naming the file, the checksum or the setting to change.
    """
    settings = settings or get_settings()
    spec = get_dataset(name, settings)
    if spec.synthetic:
        return []
    if spec.layout is not None and not spec.files:  # the user's files, read where they are
        from workbench.data.spec import header

        for part in ("items", "interactions"):
            header(spec, part)
        return [FetchedFile(f.file.name, f.file, "local")
                for f in (spec.layout.items, spec.layout.interactions)]
    dest = settings.raw_dir(spec.name)
    fetched = []
    for raw in tqdm(spec.files, desc=f"fetch {spec.name}", unit="file", leave=False):
        fetched.append(_fetch_file(spec, raw, dest / raw.name, settings, force))
    if spec.layout is not None:  # a spec that fetches its files: check what came
        from workbench.data.spec import header, located

        for part in ("items", "interactions"):
            header(located(spec, dest), part)
    return fetched


def _fetch_file(
    spec: DatasetSpec, raw: RawFile, target: Path, settings: Settings, force: bool
) -> FetchedFile:
    if target.is_file() and not force and sha256_file(target) == raw.sha256:
        return FetchedFile(raw.name, target, "cached")
    mirror = settings.data_mirror
    if mirror is not None and (mirror / raw.mirror).is_file():
        src = mirror / raw.mirror
        with _open_mirror_file(src) as stream:
            _write_verified(stream, target, raw, f"mirror file {src}")
        return FetchedFile(raw.name, target, f"mirror:{src}")
    where = (
        f"the mirror {mirror} has no {raw.mirror}"
        if mirror is not None
        else "no mirror folder is set"
    )
    if not raw.url:
        raise FetchError(f"cannot fetch {raw.name} of dataset {spec.name!r}: {where}, and it "
                         f"has no url to download it from. Set WORKBENCH_DATA_MIRROR to a "
                         f"folder that holds {raw.mirror or raw.name}, or give its url.")
    try:
        _download_verified(raw, target, settings.download_timeout_s)
    except requests.RequestException as exc:
        raise FetchError(
            f"cannot fetch {raw.name} of dataset {spec.name!r}: {where}, and downloading "
            f"{raw.url} failed ({type(exc).__name__}: {exc}). Set WORKBENCH_DATA_MIRROR to a "
            f"folder laid out like ../shared/data, or connect to the network."
        ) from None
    return FetchedFile(raw.name, target, f"download:{raw.url}")


@contextmanager
def _open_mirror_file(src: Path) -> Iterator[IO[bytes]]:
    opener = gzip.open if src.suffix == ".gz" else open
    try:
        with opener(src, "rb") as stream:
            yield stream
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FetchError(f"cannot read mirror file {src}: {exc}") from None


def _write_verified(stream: IO[bytes], target: Path, raw: RawFile, origin: str) -> None:
    """Copy ``stream`` to ``target`` atomically, only if its sha256 is the registered one."""
    digest = hashlib.sha256()
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            try:
                for chunk in iter(lambda: stream.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise FetchError(f"cannot read {origin}: {exc}") from None
        if digest.hexdigest() != raw.sha256:
            raise FetchError(
                f"checksum mismatch for {raw.name} from {origin}: sha256 {digest.hexdigest()} "
                f"but the registry records {raw.sha256}. The copy is corrupt or a different "
                f"version; nothing was written. Point WORKBENCH_DATA_MIRROR at an intact copy "
                f"of ../shared/data or delete the bad file."
            )


def _download_verified(raw: RawFile, target: Path, timeout_s: float) -> None:
    """Download ``raw.url`` (extracting ``raw.member`` from a zip) and write it verified."""
    with tempfile.TemporaryFile(dir=target.parent if target.parent.exists() else None) as buf:
        with requests.get(raw.url, stream=True, timeout=(10, timeout_s)) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("content-length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=raw.name, leave=False) as bar:
                for chunk in resp.iter_content(_CHUNK):
                    buf.write(chunk)
                    bar.update(len(chunk))
        buf.seek(0)
        if raw.member is None:
            _write_verified(buf, target, raw, raw.url)
            return
        try:
            archive = zipfile.ZipFile(buf)
            member = archive.open(raw.member)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise FetchError(f"{raw.url} is not a zip holding {raw.member}: {exc}") from None
        with archive, member:
            _write_verified(member, target, raw, f"{raw.url}!{raw.member}")

