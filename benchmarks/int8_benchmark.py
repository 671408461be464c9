"""fp32 vs int8 text encoder on a full catalog; prints one JSON document.

Measures, on the same machine and in one run:

- catalog embedding throughput (items/s) of the fp32 sentence-transformers model and of its
  int8 ONNX Runtime version (``all-MiniLM-L6-v2+int8``), on a seeded sample of catalog texts
  encoded from scratch (no cache);
- closeness: mean and minimum cosine between the two vectors of every catalog text;
- retrieval: recall@10 and MRR of text-only dense search (flat index, no BM25 or prior: the
  encoder's own effect) on the **validation** part of the team query set with each encoder
  (the index and the queries embedded by the same encoder), and their difference
  (``benchmarks/search_ablation.py --int8`` measures int8 under the full ranking);
- single-query encode latency (p50 ms) of each.

Targets (issue 13, item 5): mean cosine >= 0.99, validation recall@10 drop <= 0.01.
Prerequisite: ``workbench content build DATASET`` (or ``make pipeline``): the fp32 vectors
come from the embedding cache; the int8 ones are embedded here (and cached under their own
model name, so a later int8 build is free).

    .venv/bin/python benchmarks/int8_benchmark.py --dataset movies
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from workbench.content import ContentConfig, TextEncoder, build_content_index
from workbench.content.embeddings import DEFAULT_MODEL, FP32_MODEL, item_texts, onnx_dir
from workbench.content.ranking import RankingConfig
from workbench.data import load_items
from workbench.evaluation import default_queries_path, load_queries, query_set_metrics
from workbench.settings import get_settings


def throughput(encoder: TextEncoder, texts: list[str]) -> float:
    """Items per second of ``encoder`` on ``texts`` (after a warm-up batch)."""
    encoder.encode(texts[:8])
    started = time.perf_counter()
    encoder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def query_latency(encoder: TextEncoder, queries: list[str]) -> float:
    """p50 ms of encoding one query."""
    encoder.encode(queries[:1])
    samples = []
    for text in queries:
        started = time.perf_counter()
        encoder.encode([text])
        samples.append(time.perf_counter() - started)
    return round(float(np.percentile(samples, 50)) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movies")
    parser.add_argument("--sample", type=int, default=1000, help="texts timed per encoder")
    args = parser.parse_args()

    settings = get_settings()
    fp32 = TextEncoder(FP32_MODEL)
    int8 = TextEncoder(DEFAULT_MODEL, onnx_dir=onnx_dir(settings))
    texts = item_texts(load_items(args.dataset, settings)).tolist()
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), min(args.sample, len(texts)),
                                           replace=False)]
    speed = {"fp32_items_per_s": round(throughput(fp32, sample), 1),
             "int8_items_per_s": round(throughput(int8, sample), 1)}
    speed["speedup"] = round(speed["int8_items_per_s"] / speed["fp32_items_per_s"], 2)

    engines = {}
    for name, encoder in (("fp32", fp32), ("int8", int8)):
        config = ContentConfig(dataset=args.dataset, model=encoder.model_name, fusion=False)
        engines[name], _ = build_content_index(config, settings, encoder=encoder, save=False,
                                               progress=False)
    cosine = (engines["fp32"].index.vectors * engines["int8"].index.vectors).sum(axis=1)
    queries = load_queries(default_queries_path(args.dataset, settings),
                           engines["fp32"].items, split="validation")
    retrieval = {}
    for name, engine in engines.items():
        dense = RankingConfig(lexical_weight=0, prior_weight=0)
        metrics, _ = query_set_metrics(queries, lambda text, n, e=engine, r=dense:
                                       e.search(text, n, r))
        retrieval[name] = {key: round(value, 4) for key, value in metrics.items()}
    report = {
        "dataset": args.dataset, "items": len(texts), "validation_queries": len(queries),
        **speed,
        "cosine_mean": round(float(cosine.mean()), 4),
        "cosine_min": round(float(cosine.min()), 4),
        "retrieval_validation": retrieval,
        "recall_at_10_drop": round(retrieval["fp32"]["recall_at_10"]
                                   - retrieval["int8"]["recall_at_10"], 4),
        "query_encode_p50_ms": {"fp32": query_latency(fp32, [q.query for q in queries]),
                                "int8": query_latency(int8, [q.query for q in queries])},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
