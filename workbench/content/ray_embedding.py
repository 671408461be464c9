"""Catalog embedding on a Ray cluster (``Settings.ray_address``), with Ray Data.

The texts missing from the embedding cache go into a Ray dataset, one block per
:data:`~workbench.content.embeddings.CHUNK` texts, and through ``map_batches`` on a pool of
:class:`EncoderActor` (one per CPU of the cluster, one CPU each). Each actor builds ONE encoder
of the build's model in its ``__init__`` (the int8 graph from its own node's encoder cache,
exported there on first use), so a batch costs only its forward passes. The vectors come back
to the driver as each batch finishes, and the driver alone writes them into the cache, one
shard per batch (:class:`~workbench.content.embedding_cache.EmbeddingCache`): the workers need
no shared filesystem, and a build killed half-way resumes with only the texts not yet cached.

The batches are the chunks the one-machine path encodes, with the same encoder, so the
vectors are the same. Each batch carries the actor's encoder identity; a worker whose
checkout builds another encoder (another graph revision) is refused in one line instead of
mixing its vectors into the cache.

Ray is imported only here, and only when there is something to embed: with no ``ray_address``
this module is never imported. An address where nothing answers is refused in one line
(:func:`workbench.ray_connection.check_address`) before the build reads or writes anything.
A build running inside a Ray task (a sweep's notebook on the cluster) embeds in its own
process instead: the cluster's CPUs are held by the sweep's tasks, and an actor pool would
wait for them for ever.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from workbench.content.embeddings import (
    CHUNK,
    EmbeddingCache,
    EmbeddingError,
    EmbeddingStats,
    TextEncoder,
    embed_texts,
)
from workbench.ray_connection import LOCAL, connect

log = logging.getLogger(__name__)
DATA_LOG_LEVEL = "RAY_DATA_LOG_LEVEL"


class EncoderActor:
    """A Ray Data actor: one encoder, built once, that embeds each batch it is given
    (``{"key", "text"}`` -> ``{"key", "vector", "identity"}``)."""

    def __init__(self, model: str, max_tokens: int | None, batch_size: int,
                 batch_tokens: int, onnx_dir: str | None) -> None:
        self.encoder = TextEncoder(model, batch_size, max_tokens=max_tokens,
                                   batch_tokens=batch_tokens,
                                   onnx_dir=Path(onnx_dir) if onnx_dir else None)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"key": batch["key"], "vector": vectors,
                "identity": np.full(len(vectors), self.encoder.identity)}


def inside_ray_task() -> bool:
    """Whether this process runs inside a Ray worker (or a process it started)."""
    return "RAY_RAYLET_PID" in os.environ


def ray_batches(keys: list[str], texts: list[str], encoder: TextEncoder, address: str,
                chunk: int = CHUNK, actors: int | None = None
                ) -> Iterator[tuple[list[str], np.ndarray]]:
    """``texts`` embedded on the Ray cluster at ``address``: ``(keys, vectors)`` per batch of
    ``chunk`` texts, as they finish. ``actors``: encoders in the pool (default: one per CPU
    of the cluster). Connects (``local``: starts a throwaway instance) and disconnects
    again when it connected."""
    import pandas as pd

    owned = connect(address)
    import ray

    # Ray Data's start and finish lines off the terminal (it resets its logger's level for
    # each dataset, except to this variable); the build's own bar counts the texts
    level = os.environ.get(DATA_LOG_LEVEL)
    os.environ[DATA_LOG_LEVEL] = "ERROR"
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        frames = [pd.DataFrame({"key": keys[s:s + chunk], "text": texts[s:s + chunk]})
                  for s in range(0, len(keys), chunk)]
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        pool = max(1, min(actors or cpus, len(frames)))
        # on this machine the actors share the driver's encoder cache; on a cluster each
        # node uses (and on first use builds) its own
        folder = str(encoder.onnx_path.parent) if address == LOCAL and encoder.int8 else None
        dataset = ray.data.from_pandas(frames).map_batches(
            EncoderActor, batch_size=chunk, batch_format="numpy", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=pool), fn_constructor_kwargs={
                "model": encoder.model_name, "max_tokens": encoder.max_tokens,
                "batch_size": encoder.batch_size, "batch_tokens": encoder.batch_tokens,
                "onnx_dir": folder})
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            theirs = set(batch["identity"].tolist())
            if theirs != {encoder.identity}:
                raise EmbeddingError(
                    f"the Ray workers' encoder is {', '.join(sorted(theirs))} but this build's "
                    f"is {encoder.identity}: install the same checkout on every node")
            yield [str(k) for k in batch["key"]], np.asarray(batch["vector"], np.float32)
    finally:
        if level is None:
            os.environ.pop(DATA_LOG_LEVEL, None)
        else:
            os.environ[DATA_LOG_LEVEL] = level
        if owned and ray.is_initialized():
            ray.shutdown()


def embed_on_ray(texts: list[str], encoder: TextEncoder, cache: EmbeddingCache | None,
                 address: str, progress: bool = False, chunk: int = CHUNK,
                 actors: int | None = None) -> tuple[np.ndarray, EmbeddingStats]:
    """:func:`~workbench.content.embeddings.embed_texts` with the missing texts embedded on
    the Ray cluster at ``address`` (see the module docstring); inside a Ray task, here."""
    if inside_ray_task():
        log.info("inside a Ray task: embedding in this process, not on the cluster")
        return embed_texts(texts, encoder, cache, progress, chunk)

    def runner(keys: list[str], missing: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        return ray_batches(keys, missing, encoder, address, chunk, actors)

    started = time.perf_counter()
    vectors, stats = embed_texts(texts, encoder, cache, progress, chunk, runner=runner)
    stats.on_ray = stats.embedded
    if stats.embedded:
        log.info("embedded %d texts on the Ray cluster at %s in %.1f s (%.0f texts/s, Ray's "
                 "start included)", stats.embedded, address, time.perf_counter() - started,
                 stats.texts_per_s)
    return vectors, stats
