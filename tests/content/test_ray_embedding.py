"""Catalog embedding on Ray (workbench.content.ray_embedding): the vectors of the one-machine
path, one cache shard per batch, a killed run resumes with the rest, a second build embeds
nothing; a bad address is one line before anything is written; inside a Ray task (a sweep's
notebook on the cluster) it embeds in its own process."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, free_port
from workbench import data
from workbench.content import ContentConfig, TextEncoder, build_content_index
from workbench.content.embedding_cache import EmbeddingCache
from workbench.content.embeddings import EmbeddingError, cache_path, embed_texts
from workbench.content.ray_embedding import embed_on_ray
from workbench.ray_connection import RayUnavailable

ANIMALS = ["dog", "cat", "robot", "pirate", "dragon", "detective", "chef", "astronaut"]
TEXTS = [f"Item {i}. A story about a {ANIMALS[i % 8]} who learns {i} lessons in "
         f"{['a small town', 'space', 'the sea', 'a haunted school'][i % 4]}." for i in range(200)]
CHUNK = 50


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder()  # the session's shared int8 graph (WORKBENCH_ENCODER_CACHE)


@pytest.fixture(scope="module")
def local_vectors(encoder) -> np.ndarray:
    return embed_texts(TEXTS, encoder, None, chunk=CHUNK)[0]


@pytest.fixture(scope="module")
def local_ray():
    """One throwaway two-CPU Ray instance for the module (``ray_address="local"`` then joins
    it instead of starting one per call), with no auth token, shut down at the end."""
    import ray

    from workbench.ray_connection import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
            str(REPO), os.environ.get("PYTHONPATH")])))
        assert connect("local", cpus=2)
        try:
            yield
        finally:
            ray.shutdown()


def _shards(folder) -> list:
    return sorted(folder.glob("shard-*.npz"))


@pytest.mark.integration
def test_ray_embeds_like_this_machine_one_shard_per_batch(local_ray, encoder, local_vectors,
                                                          tmp_path) -> None:
    folder = cache_path(tmp_path, encoder.identity)
    vectors, stats = embed_on_ray(TEXTS, encoder, EmbeddingCache(folder), "local",
                                  chunk=CHUNK, actors=2)
    assert stats.embedded == stats.on_ray == 200 and stats.texts_per_s > 0
    np.testing.assert_allclose(vectors, local_vectors, atol=1e-5)  # the same batches
    assert len(_shards(folder)) == 4
    again, second = embed_on_ray(TEXTS, encoder, EmbeddingCache(folder), "local", chunk=CHUNK)
    assert second.embedded == second.on_ray == 0
    np.testing.assert_allclose(again, vectors)

    class Other(TextEncoder):  # a worker whose checkout builds another encoder
        identity = "all-MiniLM-L6-v2+int8-older"

    with pytest.raises(EmbeddingError, match=r"Ray workers' encoder is all-MiniLM-L6-v2"
                                             r"\+int8-fused but this build's is .*older"):
        embed_on_ray(TEXTS[:3], Other(), None, "local")


@pytest.mark.integration
@pytest.mark.reliability
def test_a_killed_ray_embedding_resumes_with_only_the_rest(local_ray, encoder, local_vectors,
                                                           tmp_path, monkeypatch) -> None:
    folder = cache_path(tmp_path, encoder.identity)
    saves = []
    real = EmbeddingCache.save

    def save(self) -> None:
        if len(saves) == 2:
            raise KeyboardInterrupt  # killed after two batches came back
        saves.append(1)
        real(self)

    monkeypatch.setattr(EmbeddingCache, "save", save)
    with pytest.raises(KeyboardInterrupt):
        embed_on_ray(TEXTS, encoder, EmbeddingCache(folder), "local", chunk=CHUNK)
    monkeypatch.undo()
    assert len(_shards(folder)) == 2
    vectors, stats = embed_on_ray(TEXTS, encoder, EmbeddingCache(folder), "local", chunk=CHUNK)
    assert stats.embedded == stats.on_ray == 100 and len(_shards(folder)) == 4
    # the rest went through Ray in other batches: int8 activation scales are per batch
    assert (vectors * local_vectors).sum(axis=1).min() > 0.98


@pytest.mark.integration
def test_a_build_with_a_ray_address_embeds_there(local_ray, settings, encoder) -> None:
    data.prepare("toy", settings)
    on_ray = settings.model_copy(update={"ray_address": "local"})
    config = ContentConfig(dataset="toy", fusion=False)
    engine, report = build_content_index(config, on_ray, encoder, progress=False)
    assert report.embedding.embedded == report.embedding.on_ray == 50
    assert _shards(cache_path(settings.cache_dir, encoder.identity))
    assert len(engine.search("a physicist travels back in time", 3)) == 3
    _, again = build_content_index(config, on_ray, encoder, progress=False)
    assert again.embedding.embedded == 0


def test_an_unreachable_address_is_one_line_before_anything_is_written(settings) -> None:
    data.prepare("toy", settings)
    port = free_port()
    bad = settings.model_copy(update={"ray_address": f"127.0.0.1:{port}"})
    with pytest.raises(RayUnavailable) as caught:
        build_content_index(ContentConfig(dataset="toy", fusion=False), bad, progress=False)
    message = str(caught.value)
    assert "\n" not in message and f"no Ray cluster answers at 127.0.0.1:{port}" in message
    assert "ray start --head" in message
    assert not settings.cache_dir.exists() or not list(settings.cache_dir.glob("embeddings-*"))
    assert not settings.index_file("toy").exists()


def test_inside_a_ray_task_it_embeds_here(monkeypatch, tmp_path) -> None:
    """A sweep's notebook on the cluster: the cluster's CPUs are the sweep's; no Ray."""
    class Fake:
        model_name = identity = "fake"
        dim = 2

        def encode(self, texts, progress=False):
            return np.ones((len(texts), 2), np.float32)

    monkeypatch.setenv("RAY_RAYLET_PID", "1")
    vectors, stats = embed_on_ray(["a", "b"], Fake(), None, "10.0.0.1:6379")
    assert vectors.shape == (2, 2) and stats.embedded == 2 and stats.on_ray == 0


def test_without_an_address_nothing_imports_ray() -> None:
    code = ("import sys, workbench.content.engine, workbench.content.embeddings; "
            "print('ray' in sys.modules, 'workbench.content.ray_embedding' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)
    assert done.stdout.strip() == "False False"
