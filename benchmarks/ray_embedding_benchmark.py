"""Catalog embedding on this machine vs on Ray (a throwaway local instance); prints JSON.

N synthetic plot texts (``workbench.data.synth``'s catalog: title, plot of theme words,
genres, as ``item_texts`` joins them) are embedded from an empty cache by the default (int8)
encoder, whose graph is built or loaded before any clock starts:

- ``local``: :func:`~workbench.content.embeddings.embed_texts`, this process;
- ``ray``: :func:`~workbench.content.ray_embedding.embed_on_ray` on a local Ray instance with
  ``--cpus`` CPUs and as many encoder actors; ``start_s`` is ``ray.init`` alone, ``embed_s``
  the dataset's run (actors started, each loading its encoder, the batches, every shard
  written), ``total_s`` both.

Both write one cache shard per ``CHUNK`` texts in a temporary folder; ``max_abs_diff`` is the
largest difference between the two paths' vectors (the same batches: 0).

    .venv/bin/python benchmarks/ray_embedding_benchmark.py --texts 5000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.content import TextEncoder
from workbench.content.embedding_cache import EmbeddingCache
from workbench.content.embeddings import cache_path, embed_texts, onnx_dir
from workbench.content.ray_embedding import embed_on_ray
from workbench.data.synth import SynthSize, items_table
from workbench.ray_connection import connect


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts of synthetic items, joined as ``item_texts`` joins a catalog's."""
    table, *_ = items_table(SynthSize(items=n, users=2, interactions=0, seed=seed),
                            np.random.default_rng(seed))
    rows = zip(table["title"].to_pylist(), table["plot"].to_pylist(),
               table["genres"].to_pylist(), strict=True)
    return [f"{title}. {plot} Genres: {', '.join(genres)}." for title, plot, genres in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--cpus", type=int, default=2, help="Ray's CPUs, one actor each")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    texts = synthetic_texts(args.texts)
    encoder = TextEncoder(onnx_dir=onnx_dir())
    encoder.encode(texts[:32])  # the graph is built or loaded before the clocks start
    result: dict = {"texts": len(texts), "cpus": os.cpu_count(), "ray_cpus": args.cpus}
    with tempfile.TemporaryDirectory() as tmp:
        local, stats = embed_texts(texts, encoder, EmbeddingCache(
            cache_path(Path(tmp) / "local", encoder.identity)))
        result["local"] = {"embed_s": round(stats.embed_seconds, 1),
                           "texts_per_s": round(stats.texts_per_s, 1)}
        started = time.perf_counter()
        connect("local", cpus=args.cpus)
        start_s = time.perf_counter() - started
        try:
            folder = cache_path(Path(tmp) / "ray", encoder.identity)
            on_ray, stats = embed_on_ray(texts, encoder, EmbeddingCache(folder), "local",
                                         actors=args.cpus)
        finally:
            import ray

            ray.shutdown()
        result["ray"] = {"start_s": round(start_s, 1), "embed_s": round(stats.embed_seconds, 1),
                         "total_s": round(start_s + stats.embed_seconds, 1),
                         "texts_per_s": round(stats.texts_per_s, 1),
                         "texts_per_s_with_start": round(
                             len(texts) / (start_s + stats.embed_seconds), 1),
                         "shards": len(list(folder.glob("shard-*.npz")))}
        result["max_abs_diff"] = float(np.abs(on_ray - local).max())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
