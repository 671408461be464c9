"""Content engine benchmark on a full catalog; prints one JSON document.

Measures, in one run and on the same queries:

- query latency (single queries, p50/p99 in ms) for encode + search with FAISS ``flat``,
  ``hnsw`` and ``ivf``, and a NumPy brute-force baseline (matmul + argpartition) on the same
  vectors; encode alone is reported too;
- the whole free-text search as the application runs it (``engine.rank``: encode, FAISS,
  BM25, quality prior, fusion; the engine's query cache off), p50/p99 in ms;
- recall@10 of ``hnsw`` and ``ivf`` against exact search;
- build throughput: embedding items/s with no cache (a sample of the catalog), and the time of
  a full rebuild with a warm embedding cache;
- peak resident memory of the process.

Targets (issue 3): encode+search p50 under 15 ms on the 2-core CPU for the full movie catalog;
a rebuild with a warm cache under 10 s. Prerequisite: ``workbench content build DATASET`` (or
``make pipeline``), which also warms the cache.

    .venv/bin/python benchmarks/content_benchmark.py --dataset movies
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from workbench.content import (
    ContentConfig,
    TextEncoder,
    VectorIndex,
    build_content_index,
    load_content_engine,
)
from workbench.content.embeddings import item_texts
from workbench.content.index import IndexManifest
from workbench.evaluation import default_queries_path, load_queries
from workbench.settings import get_settings


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p99/mean in milliseconds."""
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3)}


def numpy_search(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Brute-force baseline: inner products, then the top k by argpartition."""
    scores = vectors @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movies")
    parser.add_argument("--repeats", type=int, default=5, help="passes over the query set")
    parser.add_argument("--embed-sample", type=int, default=256,
                        help="items embedded without cache to measure throughput")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    settings = get_settings()

    engine = load_content_engine(args.dataset, settings)
    encoder = engine.encoder
    queries_path = default_queries_path(args.dataset, settings)
    texts = [q.query for q in load_queries(queries_path)] * args.repeats
    engine.search("warm up", args.k)  # model load and first-call costs out of the figures
    engine.query_cache = 0  # every query encoded, as if new

    base = engine.index
    indexes = {"flat": base}
    for kind in ("hnsw", "ivf"):
        t0 = time.perf_counter()
        manifest = IndexManifest(**{**base.manifest.__dict__, "index_type": kind})
        indexes[kind] = VectorIndex.build(base.vectors, base.item_ids, manifest, codes=base.codes)
        indexes[kind].build_seconds = time.perf_counter() - t0

    # As the application runs it: each query encoded, then searched, one after the other (so
    # any interference between torch and FAISS threads shows in the figures).
    encode_t: list[float] = []
    search_t: dict[str, list[float]] = {name: [] for name in [*indexes, "numpy"]}
    recalls: dict[str, list[float]] = {name: [] for name in indexes}
    qvecs = []
    for text in texts:
        t0 = time.perf_counter()
        q = engine.query_vector(text)
        encode_t.append(time.perf_counter() - t0)
        qvecs.append(q)
        truth = None
        for kind, index in indexes.items():
            t0 = time.perf_counter()
            ids, _ = index.search(q, args.k)
            search_t[kind].append(time.perf_counter() - t0)
            truth = set(ids[0]) if kind == "flat" else truth
            recalls[kind].append(len(truth & set(ids[0])) / args.k)
    ranked_t = []
    for text in texts:
        t0 = time.perf_counter()
        engine.rank(text, args.k)
        ranked_t.append(time.perf_counter() - t0)
    # The NumPy baseline in a loop of its own: BLAS threads left spinning after a matmul would
    # otherwise slow the next query's encoding and blur the FAISS figures.
    for q in qvecs:
        t0 = time.perf_counter()
        numpy_search(base.vectors, q, args.k)
        search_t["numpy"].append(time.perf_counter() - t0)
    results: dict[str, object] = {
        "dataset": args.dataset, "items": len(base), "dim": int(base.vectors.shape[1]),
        "queries": len(texts), "fusion": base.manifest.fusion,
        "encode_query": percentiles(encode_t),
        "search_fused_ranking": {**percentiles(ranked_t),
                                 "ranking": engine.ranking.model_dump()},
    }
    for kind, index in indexes.items():
        results[f"faiss_{kind}"] = {
            "search": percentiles(search_t[kind]),
            "encode_plus_search": percentiles(list(np.add(encode_t, search_t[kind]))),
            "recall_at_k_vs_exact": round(float(np.mean(recalls[kind])), 4),
            "build_seconds": round(getattr(index, "build_seconds", 0.0), 3),
        }
    results["numpy_bruteforce"] = {"search": percentiles(search_t["numpy"]),
                                   "encode_plus_search": percentiles(
                                       list(np.add(encode_t, search_t["numpy"])))}

    sample = item_texts(engine.items.head(args.embed_sample)).tolist()
    cold = TextEncoder(encoder.model_name)
    cold.encode(sample[:8])
    t0 = time.perf_counter()
    cold.encode(sample)
    results["embed_items_per_second_no_cache"] = round(len(sample) / (time.perf_counter() - t0),
                                                       1)
    config = ContentConfig(**base.manifest.build_config) if base.manifest.build_config else \
        ContentConfig(dataset=args.dataset)
    t0 = time.perf_counter()
    _, report = build_content_index(config, settings, encoder, progress=False, save=False)
    results["warm_rebuild"] = {"seconds": round(time.perf_counter() - t0, 2),
                               "items_embedded": report.embedding.embedded,
                               "steps_seconds": {k: round(v, 2)
                                                 for k, v in report.seconds.items()}}
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
