"""Atomic file writes: write a temporary file beside the target, fsync, then rename.

A reader sees either the old file or the new one, never half of one; an interrupted write
leaves the previous version in place and at most a ``.tmp`` file that the next write replaces.
Every file the workbench writes that matters (data tables, indexes, models, caches) goes
through here.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success.

    The caller writes the file at the yielded path by any means (a library's ``save``, say).
    On an exception the temporary file is removed and ``target`` is untouched.
    ``suffix`` keeps an extension that a writer insists on (``.keras``, ``.parquet``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", suffix=suffix,
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; keep the usual permissions
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``target``."""
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(target: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Atomically write ``frame`` as Parquet (pyarrow, no index)."""
    with atomic_path(target, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow")


def read_yaml(path: str | os.PathLike[str], what: str,
              error: type[Exception] = ValueError) -> Any:
    """The YAML document in the file ``path``; a missing file, a folder, undecodable text or
    invalid YAML is ``error`` naming ``what`` the file is ("sweep file", "query set") and
    the path."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder, not a file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None


def file_lock(path: str | os.PathLike[str], timeout: float = -1) -> FileLock:
    """An exclusive lock on the file ``path`` (its folder created if needed), from
    ``filelock``: ``with file_lock(path):`` holds it for the block; other processes taking
    the same lock wait, for ever by default, or at most ``timeout`` seconds (0: not at all),
    after which :class:`filelock.Timeout` is raised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, timeout=timeout)


def replace_folder(source: str | os.PathLike[str], target: str | os.PathLike[str],
                   copy: bool = False, prepare: Callable[[Path], None] | None = None) -> None:
    """Put the folder ``source`` at ``target`` by renames: a reader sees the old folder or the
    new one, never half of one (between the two renames, for microseconds, no folder; a
    failed swap puts the old folder back). With ``copy``, ``source`` is copied beside
    ``target`` first and left in place; ``prepare(staged)`` may add files to the staged copy
    before the swap."""
    import shutil
    import time

    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{time.time_ns()}"
    staged = source
    if copy:
        staged = target.with_name(f".{target.name}.tmp-{stamp}")
        shutil.copytree(source, staged)
    old = target.with_name(f".{target.name}.old-{stamp}")
    try:
        if prepare is not None:
            prepare(staged)
        moved = False
        if target.exists():
            os.replace(target, old)
            moved = True
        try:
            os.replace(staged, target)
        except OSError:
            if moved:
                os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if copy and staged.exists() and staged != target:
            shutil.rmtree(staged, ignore_errors=True)
