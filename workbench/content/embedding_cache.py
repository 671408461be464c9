"""The embedding cache: vectors keyed by sha256(encoder identity + text), in a folder of shards.

``models/cache/embeddings-<identity>/`` holds ``shard-*.npz`` files, each the keys (64 hex
characters) and float32 vectors of one chunk of texts embedded together (``np.savez``, no
pickle). A chunk is written as a new shard, atomically (temporary file, then rename), and no
shard is ever rewritten: embedding a catalog costs one write of each vector, where the former
single ``.npz`` was rewritten in full after every chunk (quadratic: about 500 rewrites of a
file growing to 1.5 GB for a million items). A killed build keeps every shard it finished.

Loading reads every shard. A damaged one is set aside (``*.corrupt``, with a warning) and its
texts are embedded again. When loading finds more than :data:`COMPACT_AT` shards, it writes
them as one (atomically) and only then removes the ones it read: a crash in between leaves
the same vectors twice, which load as one (a key maps to one vector whichever shard holds it),
and the next load compacts again. A cache of the former layout, ``embeddings-<identity>.npz``
beside the folder, is moved into it as its first shard (a rename: the file format is the same),
so a home built before keeps its vectors.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from workbench.storage import atomic_path

log = logging.getLogger(__name__)

COMPACT_AT = 64
"""Shards a load compacts into one when it finds more (one build of a million items writes
about 500 of 2,048 texts; the next load makes them one)."""
SHARD_GLOB = "shard-*.npz"
STALE_TMP_S = 3600.0
"""A shard's temporary file older than this was left by a killed writer and is removed."""
_DAMAGED = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
_serial = itertools.count()


def legacy_path(folder: Path) -> Path:
    """The single-file cache of the former layout that ``folder`` replaces
    (``embeddings-<identity>.npz`` beside ``embeddings-<identity>/``)."""
    return folder.with_name(folder.name + ".npz")


def read_shard(path: Path) -> tuple[list[str], np.ndarray]:
    """The keys and float32 vectors of one shard (or of a former single-file cache)."""
    with np.load(path, allow_pickle=False) as npz:
        keys, vectors = npz["keys"], npz["vectors"]
    if keys.ndim != 1 or vectors.ndim != 2 or len(keys) != len(vectors):
        raise ValueError(f"keys {keys.shape} and vectors {vectors.shape} do not match")
    if keys.dtype.kind == "S":
        keys = np.char.decode(keys, "ascii")
    return keys.tolist(), np.ascontiguousarray(vectors, dtype=np.float32)


def write_shard(folder: Path, keys: list[str], vectors: np.ndarray) -> Path:
    """Write ``keys`` and ``vectors`` as a new shard in ``folder``, atomically; its path.
    Names sort by time of writing and never collide (time, process, a counter)."""
    name = f"shard-{time.time_ns():020d}-{os.getpid()}-{next(_serial)}.npz"
    path = Path(folder) / name
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, keys=np.array(keys, dtype="S64"),
                 vectors=np.asarray(vectors, dtype=np.float32))
    return path


def set_aside(path: Path, exc: BaseException) -> None:
    """Rename a damaged cache file to ``*.corrupt``, with a warning."""
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    log.warning("embedding cache %s is damaged (%s): moved to %s; its texts are embedded "
                "again", path, exc, aside.name)


class EmbeddingCache:
    """Vectors keyed by :func:`~workbench.content.embeddings.text_key`, kept in the folder
    ``path`` as append-only shards (see the module docstring). :meth:`put` adds vectors in
    memory, :meth:`save` writes those not yet on disk as one new shard."""

    def __init__(self, path: Path, compact_at: int = COMPACT_AT) -> None:
        self.path = Path(path)
        self._blocks: list[np.ndarray] = []
        self._where: dict[str, tuple[int, int]] = {}
        self._pending: list[tuple[list[str], np.ndarray]] = []
        self.discarded = False
        """Whether a damaged shard (or former single file) was set aside; its texts are
        embedded again."""
        self.shards_written = 0
        """Shards :meth:`save` wrote."""
        self._migrate()
        read = self._load()
        if len(read) > compact_at:
            self._compact(read)

    def _migrate(self) -> None:
        """Move a former single-file cache into the folder as a shard (one rename; a damaged
        one is then set aside there like any shard)."""
        old = legacy_path(self.path)
        if not old.is_file():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        os.replace(old, self.path / f"shard-{0:020d}-migrated.npz")

    def _load(self) -> list[Path]:
        """Read every shard; the paths read."""
        if not self.path.is_dir():
            return []
        now = time.time()
        for tmp in self.path.glob(".shard-*.tmp-*"):  # left by a killed writer
            try:
                if now - tmp.stat().st_mtime > STALE_TMP_S:
                    tmp.unlink()
            except OSError:
                pass
        read = []
        for shard in sorted(self.path.glob(SHARD_GLOB)):
            try:
                keys, vectors = read_shard(shard)
            except FileNotFoundError:  # compacted away by another process meanwhile
                continue
            except _DAMAGED as exc:
                set_aside(shard, exc)
                self.discarded = True
                continue
            self._add(keys, vectors)
            read.append(shard)
        return read

    def _add(self, keys: list[str], vectors: np.ndarray) -> None:
        block = len(self._blocks)
        self._blocks.append(vectors)
        self._where.update((k, (block, row)) for row, k in enumerate(keys))

    def _compact(self, shards: list[Path]) -> None:
        """Write the vectors of ``shards`` as one shard, then remove them."""
        keys = list(self._where)
        if not keys:
            return
        write_shard(self.path, keys, np.stack([self.get(k) for k in keys]))
        for shard in shards:
            shard.unlink(missing_ok=True)
        log.info("embedding cache %s: %d shards compacted into one", self.path, len(shards))

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def get(self, key: str) -> np.ndarray | None:
        """The cached vector of ``key``, if any."""
        where = self._where.get(key)
        return None if where is None else self._blocks[where[0]][where[1]]

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        """Add vectors in memory (:meth:`save` writes them)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys but {len(vectors)} vectors")
        if len(keys):
            self._add(list(keys), vectors)
            self._pending.append((list(keys), vectors))

    def save(self) -> None:
        """Write the vectors put since the last save as one new shard (atomically)."""
        if not self._pending:
            return
        keys = [k for keys, _ in self._pending for k in keys]
        write_shard(self.path, keys, np.concatenate([v for _, v in self._pending]))
        self._pending.clear()
        self.shards_written += 1
