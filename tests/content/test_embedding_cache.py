"""The sharded embedding cache: one shard per chunk, never rewritten; a killed build resumes;
a damaged shard is set aside; a former single-file cache is moved in; compaction loses
nothing whenever it is interrupted."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.fake_encoder import Fake, vector
from workbench.content import embedding_cache
from workbench.content.embedding_cache import EmbeddingCache, legacy_path, read_shard
from workbench.content.embeddings import cache_path, embed_texts, text_key

TEXTS = [f"text {i}" for i in range(50)]


def shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("shard-*.npz"))


@pytest.fixture
def folder(tmp_path) -> Path:
    return cache_path(tmp_path, "fake")


def test_each_chunk_is_a_shard_of_its_own_and_none_is_rewritten(folder) -> None:
    assert folder.name == "embeddings-fake"
    embed_texts(TEXTS[:30], Fake(), EmbeddingCache(folder), chunk=10)
    first = shards(folder)
    assert len(first) == 3
    stamps = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in first]
    vectors, stats = embed_texts(TEXTS, Fake(), EmbeddingCache(folder), chunk=10)
    assert stats.embedded == 20 and len(shards(folder)) == 5
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in first] == stamps
    np.testing.assert_allclose(vectors, [vector(t) for t in TEXTS])
    keys, stored = read_shard(first[0])
    assert keys == [text_key("fake", t) for t in TEXTS[:10]] and stored.dtype == np.float32
    assert not list(folder.glob(".*"))  # no temporary file left


@pytest.mark.reliability
def test_a_killed_build_resumes_with_only_the_rest(folder) -> None:
    with pytest.raises(KeyboardInterrupt):
        embed_texts(TEXTS, Fake(fail_on=3), EmbeddingCache(folder), chunk=10)
    assert len(shards(folder)) == 2 and len(EmbeddingCache(folder)) == 20
    again = Fake()
    vectors, stats = embed_texts(TEXTS, again, EmbeddingCache(folder), chunk=10)
    assert again.seen == 30 and stats.embedded == 30 and stats.texts_per_s > 0
    np.testing.assert_allclose(vectors, [vector(t) for t in TEXTS])
    _, last = embed_texts(TEXTS, Fake(), EmbeddingCache(folder), chunk=10)
    assert last.embedded == 0 and last.texts_per_s == 0.0


@pytest.mark.reliability
@pytest.mark.parametrize("how", ["truncated", "emptied", "no vectors"])
def test_a_damaged_shard_is_set_aside_and_its_texts_embedded_again(folder, caplog,
                                                                   how) -> None:
    embed_texts(TEXTS[:30], Fake(), EmbeddingCache(folder), chunk=10)
    damaged = shards(folder)[1]
    if how == "no vectors":
        np.savez(damaged, keys=np.array(["x"], dtype="S64"))
    else:
        damaged.write_bytes(damaged.read_bytes()[:100] if how == "truncated" else b"")
    with caplog.at_level(logging.WARNING):
        cache = EmbeddingCache(folder)
    assert cache.discarded and len(cache) == 20
    assert damaged.with_name(damaged.name + ".corrupt").is_file() and not damaged.exists()
    assert "is damaged" in caplog.text and ".corrupt" in caplog.text
    again = Fake()
    vectors, stats = embed_texts(TEXTS[:30], again, cache, chunk=10)
    assert again.seen == 10 == stats.embedded
    np.testing.assert_allclose(vectors, [vector(t) for t in TEXTS[:30]])
    assert not EmbeddingCache(folder).discarded


def test_a_former_single_file_cache_is_moved_in_and_read(folder) -> None:
    old = legacy_path(folder)
    assert old.name == "embeddings-fake.npz"
    keys = np.array([text_key("fake", t) for t in TEXTS[:20]], dtype="U64")  # its format
    np.savez(old, keys=keys, vectors=np.array([vector(t) for t in TEXTS[:20]]))
    cache = EmbeddingCache(folder)
    assert len(cache) == 20 and not old.exists() and len(shards(folder)) == 1
    again = Fake()
    vectors, stats = embed_texts(TEXTS, again, cache, chunk=10)
    assert again.seen == 30 == stats.embedded
    np.testing.assert_allclose(vectors, [vector(t) for t in TEXTS])
    assert len(EmbeddingCache(folder)) == 50


@pytest.mark.reliability
def test_a_damaged_former_cache_is_set_aside(folder) -> None:
    legacy_path(folder).write_bytes(b"not a zip file")
    cache = EmbeddingCache(folder)
    assert cache.discarded and len(cache) == 0
    assert list(folder.glob("*.corrupt")) and not legacy_path(folder).exists()


def _filled(folder: Path, n: int) -> None:
    embed_texts(TEXTS[:10 * n], Fake(), EmbeddingCache(folder, compact_at=1000), chunk=10)
    assert len(shards(folder)) == n


def test_many_shards_are_compacted_into_one(folder) -> None:
    _filled(folder, 5)
    cache = EmbeddingCache(folder, compact_at=3)
    assert len(cache) == 50 and len(shards(folder)) == 1
    keys, vectors = read_shard(shards(folder)[0])
    assert sorted(keys) == sorted(text_key("fake", t) for t in TEXTS)
    stored = dict(zip(keys, vectors, strict=True))
    for t in TEXTS:
        np.testing.assert_allclose(stored[text_key("fake", t)], vector(t))
    _, stats = embed_texts(TEXTS, Fake(), EmbeddingCache(folder, compact_at=3), chunk=10)
    assert stats.embedded == 0


@pytest.mark.reliability
@pytest.mark.parametrize("crash", ["writing", "removing"])
def test_an_interrupted_compaction_loses_nothing(folder, monkeypatch, crash) -> None:
    """Killed while the compacted shard is written (the old ones stay), or after it was
    written while the old ones are removed (some vectors twice, the same): every vector is
    still there, once, and the next load compacts again."""
    _filled(folder, 5)
    if crash == "writing":
        def write(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(embedding_cache, "write_shard", write)
    else:
        real = Path.unlink
        removed = []

        def unlink(self, missing_ok=False):
            if len(removed) == 2:
                raise KeyboardInterrupt
            removed.append(self)
            real(self, missing_ok=missing_ok)
        monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(folder, compact_at=3)
    monkeypatch.undo()
    assert len(shards(folder)) == (5 if crash == "writing" else 4)
    cache = EmbeddingCache(folder, compact_at=3)
    assert len(cache) == 50 and len(shards(folder)) == 1 and not cache.discarded
    for t in TEXTS:
        np.testing.assert_allclose(cache.get(text_key("fake", t)), vector(t))
    assert not list(folder.glob(".*"))


def test_a_temporary_file_left_by_a_killed_writer_is_removed_when_stale(folder) -> None:
    import os

    _filled(folder, 1)
    stale, fresh = folder / ".shard-1.npz.tmp-abc.npz", folder / ".shard-2.npz.tmp-def.npz"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    os.utime(stale, (1, 1))
    assert len(EmbeddingCache(folder)) == 10
    assert not stale.exists() and fresh.exists()


def test_put_refuses_keys_and_vectors_that_do_not_match(folder) -> None:
    with pytest.raises(ValueError, match="2 keys but 1 vectors"):
        EmbeddingCache(folder).put(["a", "b"], np.zeros((1, 4)))
