"""Embedding both catalogs from nothing with the default (int8) encoder; prints JSON.

"From nothing" is what a fresh machine does on its first ``make pipeline``: no int8 graph
(exported, fused and quantised here, into a temporary folder) and no embedding cache (one in
the same folder, saved every ``CHUNK`` texts as a real build does). Measures:

- ``export_s``: building the int8 graph (PyTorch import, ONNX export, fusion, quantisation);
- per dataset: ``embed_s`` and texts/s of ``embed_texts`` over every catalog text;
- ``total_s``: export plus both catalogs, the figure issue 13's target (5 minutes) is about;
- with ``--compare N``: texts/s of each batching in ``--batchings`` on a seeded sample of
  N anime texts, three interleaved rounds (this machine's speed drifts between minutes), and
  the mean cosine of each batching's vectors to the fp32 model's.

Prerequisite: the datasets' items (``workbench data prepare``, or ``make pipeline``).

    .venv/bin/python benchmarks/embedding_benchmark.py
    .venv/bin/python benchmarks/embedding_benchmark.py --compare 800 --skip-catalogs
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.content import TextEncoder
from workbench.content.embeddings import (
    BATCH_TOKENS,
    DEFAULT_MODEL,
    FP32_MODEL,
    EmbeddingCache,
    cache_path,
    embed_texts,
    item_texts,
)
from workbench.data import load_items
from workbench.settings import get_settings

ROUNDS = 3
"""Interleaved rounds of ``--compare``."""
BATCHINGS = ("64x", f"{BATCH_TOKENS}t", "512t", "2048t", "8x")
"""Batchings compared by ``--compare``: ``64x`` is 64 texts per batch whatever their length
(the int8 path before 2026-12-02, and the fp32 path's default); ``1024t`` a budget of word
pieces per batch, padding included (the default, ``BATCH_TOKENS``); ``8x`` 8 texts."""


def encoder_for(batching: str, folder: Path) -> TextEncoder:
    """The default encoder with ``batching``: ``<n>x`` (n texts per batch, whatever their
    length) or ``<n>t`` (n word pieces per batch, padding included)."""
    size, unit = batching[:-1], batching[-1:]
    if unit not in ("x", "t") or not size.isdigit() or int(size) < 1:
        raise SystemExit(f"batching {batching!r}: write <n>x (texts) or <n>t (word pieces)")
    if unit == "x":  # a word-piece budget no batch reaches: only the text count limits
        return TextEncoder(DEFAULT_MODEL, batch_size=int(size), onnx_dir=folder,
                           batch_tokens=int(size) * 100_000)
    return TextEncoder(DEFAULT_MODEL, onnx_dir=folder, batch_tokens=int(size))


def catalogs(datasets: list[str], folder: Path) -> dict:
    """Export the graph, then embed every text of each dataset, with a fresh cache."""
    settings = get_settings()
    encoder = TextEncoder(DEFAULT_MODEL, onnx_dir=folder)
    started = time.perf_counter()
    encoder.encode(["warm the graph"])  # exports it: there is none in ``folder``
    result: dict = {"export_s": round(time.perf_counter() - started, 1)}
    total = time.perf_counter() - started
    for dataset in datasets:
        texts = item_texts(load_items(dataset, settings)).tolist()
        cache = EmbeddingCache(cache_path(folder / dataset, encoder.identity))
        cache.path.parent.mkdir(parents=True, exist_ok=True)
        _, stats = embed_texts(texts, encoder, cache)
        total += stats.seconds
        result[dataset] = {"texts": len(texts), "embed_s": round(stats.seconds, 1),
                           "texts_per_s": round(len(texts) / stats.seconds, 1)}
    result["total_s"] = round(total, 1)
    return result


def compare(sample_size: int, batchings: list[str], folder: Path) -> dict:
    """Texts/s (median of three interleaved rounds) and mean cosine to fp32 per batching."""
    texts = item_texts(load_items("anime", get_settings())).tolist()
    rng = np.random.default_rng(0)
    picked = rng.choice(len(texts), min(sample_size, len(texts)), replace=False)
    sample = [texts[i] for i in picked]
    reference = TextEncoder(FP32_MODEL).encode(sample)
    encoders = {b: encoder_for(b, folder) for b in batchings}
    speeds: dict[str, list[float]] = {b: [] for b in batchings}
    cosine = {}
    for _ in range(ROUNDS):
        for batching, encoder in encoders.items():
            encoder.encode(sample[:4])  # session loaded before the clock starts
            started = time.perf_counter()
            vectors = encoder.encode(sample)
            speeds[batching].append(len(sample) / (time.perf_counter() - started))
            cosine[batching] = round(float((vectors * reference).sum(axis=1).mean()), 4)
    return {b: {"texts_per_s": round(float(np.median(speeds[b])), 1),
                "rounds": [round(s, 1) for s in speeds[b]],
                "mean_cosine_to_fp32": cosine[b]} for b in batchings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["movies", "anime"])
    parser.add_argument("--compare", type=int, default=0, metavar="N",
                        help="also compare batchings on N anime texts")
    parser.add_argument("--batchings", nargs="+", default=list(BATCHINGS))
    parser.add_argument("--skip-catalogs", action="store_true")
    args = parser.parse_args()

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="embedding-benchmark-") as tmp:
        if not args.skip_catalogs:
            out["from_nothing"] = catalogs(args.datasets, Path(tmp) / "fresh")
        if args.compare:
            out["batching"] = compare(args.compare, args.batchings, Path(tmp) / "fresh")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
