"""Atomic file writes: write a temporary file beside the target, fsync, then rename.

A reader sees either the old file or the new one, never half of one; an interrupted write
leaves the previous version in place and at most a ``.tmp`` file that the next write replaces.
Every file the workbench writes that matters (data tables, indexes, models, caches) goes
through here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from workbench import WorkbenchError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


class DiskFullError(WorkbenchError):
    """A write failed because the disk (or the user's quota) is full; nothing was replaced."""


def disk_full(exc: BaseException) -> str:
    """What ``exc`` says when it is a full disk or quota (``no space left on device``),
    by its errno or, for a library that wraps it, its text; empty otherwise."""
    code = getattr(exc, "errno", None)
    if code in _FULL:
        return _FULL[code]
    text = str(exc)
    if "database or disk is full" in text:  # SQLite's SQLITE_FULL (MLflow's and Optuna's store)
        return _FULL[errno.ENOSPC]
    return next((why for code, why in _FULL.items() if os.strerror(code) in text), "")


@contextlib.contextmanager
def _named_when_full(target: Path) -> Iterator[None]:
    """Turn a full disk while writing ``target`` into a :class:`DiskFullError` naming it."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        why = disk_full(exc)
        if not why:
            raise
        raise DiskFullError(f"{why} writing {target.name} in {target.parent}; free space "
                            f"there and rerun (the previous {target.name}, if any, is "
                            f"untouched)") from None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success.

    The caller writes the file at the yielded path by any means (a library's ``save``, say).
    On an exception the temporary file is removed and ``target`` is untouched.
    ``suffix`` keeps an extension that a writer insists on (``.keras``, ``.parquet``).
    """
    target = Path(target)
    with _named_when_full(target):
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


YAML_VALUES = 100_000
"""The most values a YAML file's aliases may expand it to (a "billion laughs" file, nine
nested lists of nine aliases, expands to 10^9 and is refused); a file without aliases has no
limit but its size."""


def read_yaml(path: str | os.PathLike[str], what: str,
              error: type[Exception] = ValueError) -> Any:
    """The YAML document in the file ``path``; a missing file, a folder, undecodable text,
    invalid YAML (one line: the line, the column and the problem) or aliases that expand past
    :data:`YAML_VALUES` values (or into themselves) is ``error`` naming ``what`` the file is
    ("sweep file", "query set") and the path."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not valid YAML: not UTF-8 text ({exc})") from None
    except yaml.MarkedYAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {_yaml_problem(exc)}") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise error(f"{what} {path} is nested too deeply to read") from None
    except ValueError as exc:  # a scalar PyYAML cannot convert (an integer of 5,000 digits)
        raise error(f"{what} {path} has a value that cannot be read: {exc}") from None
    problem = _alias_problem(doc)
    if problem:
        raise error(f"{what} {path}: {problem}; write the values out instead") from None
    return doc


def _yaml_problem(exc: Any) -> str:
    """PyYAML's error on one line: where (line and column, from 1), the problem, and what
    the parser was doing."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    text = " ".join(f"{exc.problem or ''}".split()) or "invalid"
    if exc.context:
        text += f" ({exc.context}"
        if exc.context_mark and exc.context_mark is not mark:
            text += f" at line {exc.context_mark.line + 1}"
        text += ")"
    return where + text


def _alias_problem(doc: Any) -> str:
    """Why a loaded YAML document's aliases make it unsafe to use (empty when they don't):
    it contains itself, or written out it would hold over :data:`YAML_VALUES` values."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    unique = 0

    def size(value: Any) -> int:
        nonlocal unique
        if not isinstance(value, dict | list):
            unique += 1
            return 1
        key = id(value)
        if key in active:
            raise ValueError
        if key not in sizes:
            active.add(key)
            unique += 1
            children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            sizes[key] = 1 + sum(size(child) for child in children)
            active.discard(key)
        return sizes[key]

    try:
        total = size(doc)
    except ValueError:
        return "an alias refers to a value that contains it"
    if total > YAML_VALUES and total > unique:
        return (f"its aliases expand it to {total:,} values (over {YAML_VALUES:,}: a "
                f"\"billion laughs\" file?)")
    return ""


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
    old = target.with_name(f".{target.name}.old-{stamp}")
    try:
        with _named_when_full(target):
            if copy:
                shutil.copytree(source, staged)
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
