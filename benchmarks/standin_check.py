"""How far the scale benchmark's stand-in vectors are from real encodings, for an index.

The scale benchmark cannot embed a million plots in its hour, so its large point builds the
index over stand-in vectors (``scale_benchmark.standin_vectors``). This script takes a
dataset whose content index was built (so the embedding cache holds the real encoding of
every item text), makes the stand-in from a 2,000-text sample of those encodings exactly as
the benchmark does, and builds the same IVF index (``IVF{4 sqrt(n)},Flat``) over three sets
of vectors: the real encodings, the stand-in, and the former stand-in (independent noise per
dimension). It prints recall@10 against exact search on 1,000 sampled queries and the
single-query p50 at several ``nprobe``, as a Markdown table (docs/scale.md).

    .venv/bin/workbench data synth mid --items 100000 --users 50000 --interactions 1000000
    .venv/bin/workbench data prepare mid && .venv/bin/workbench content build mid
    .venv/bin/python benchmarks/standin_check.py mid          # about 3 minutes
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROBES = (8, 16, 32, 64)


def real_vectors(dataset: str, settings) -> tuple[np.ndarray, np.ndarray]:
    """The cached real encoding of every item text, and each item's theme (genre set)."""
    from workbench import data
    from workbench.content.embedding_cache import EmbeddingCache
    from workbench.content.embeddings import (
        DEFAULT_MODEL,
        TextEncoder,
        cache_path,
        item_texts,
        onnx_dir,
        text_key,
    )

    items = data.load_items(dataset, settings)
    identity = TextEncoder(DEFAULT_MODEL, onnx_dir=onnx_dir(settings)).identity
    cache = EmbeddingCache(cache_path(settings.cache_dir, identity))
    vectors = [cache.get(text_key(identity, t)) for t in item_texts(items)]
    missing = sum(v is None for v in vectors)
    if missing:
        raise SystemExit(f"error: {missing:,} item texts of {dataset} are not in the embedding "
                         f"cache: run `workbench content build {dataset}` first")
    theme = items["genres"].map(tuple).astype("category").cat.codes.to_numpy()
    return np.stack(vectors).astype(np.float32), theme


def diagonal_standin(sample, sample_theme, theme, rng) -> np.ndarray:
    """The former stand-in: the theme's centroid plus independent noise per dimension."""
    vectors = np.empty((len(theme), sample.shape[1]), np.float32)
    for code in np.unique(theme):
        mine = sample[sample_theme == code]
        mine = mine if len(mine) >= 2 else sample
        where = np.flatnonzero(theme == code)
        vectors[where] = mine.mean(axis=0) + (mine.std(axis=0) + 1e-3) * rng.standard_normal(
            (len(where), sample.shape[1]), np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def measure(vectors: np.ndarray, rng: np.random.Generator) -> list[tuple[int, float, float]]:
    """(nprobe, recall@10, p50 ms) of ``IVF{4 sqrt(n)},Flat`` over ``vectors``."""
    import faiss

    n, dim = vectors.shape
    queries = vectors[rng.choice(n, size=min(n, 1000), replace=False)]
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    nlist = max(1, round(4 * math.sqrt(n)))
    index = faiss.index_factory(dim, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)])
    index.add(vectors)
    rows = []
    for probe in PROBES:
        index.nprobe = probe
        _, got = index.search(queries, 10)
        recall = float(np.mean([len(set(a) & set(b)) / 10
                                for a, b in zip(got, truth, strict=True)]))
        times = []
        for q in queries[:200]:
            started = time.perf_counter()
            index.search(q[None], 10)
            times.append(time.perf_counter() - started)
        rows.append((probe, recall, 1000 * float(np.median(times))))
    return rows


def main(argv: list[str] | None = None) -> int:
    from scale_benchmark import standin_vectors

    from workbench.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--sample", type=int, default=2000)
    args = parser.parse_args(argv)
    real, theme = real_vectors(args.dataset, get_settings())
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(real), size=min(args.sample, len(real)), replace=False))
    sets = {"real encodings": real,
            "stand-in (the theme's covariance)": standin_vectors(real[rows], theme[rows],
                                                                  theme, rng),
            "former stand-in (independent noise)": diagonal_standin(real[rows], theme[rows],
                                                                    theme, rng)}
    nlist = max(1, round(4 * math.sqrt(len(real))))
    print(f"`IVF{nlist},Flat` over {len(real):,} vectors: recall@10 / single-query p50 "
          f"by nprobe\n")
    print("| vectors | " + " | ".join(f"nprobe {p}" for p in PROBES) + " |")
    print("|---|" + "---|" * len(PROBES))
    for name, vectors in sets.items():
        cells = [f"{r:.3f} / {ms:.2f} ms" for _, r, ms in measure(vectors, rng)]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
