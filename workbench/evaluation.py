"""Evaluation metrics and protocols.

Content retrieval (issue 3):

- :func:`genre_precision_at_k`: for "more like this", the share of the top-k neighbours that
  share at least one genre with the seed item, averaged over seed items.
- :func:`query_set_metrics`: for free-text queries with human-judged relevant titles,
  recall@k (share of the relevant titles in the top k) and MRR (reciprocal rank of the first
  relevant result, 0 when none is in the top ``depth``).

A relevant title matches every catalog item with that exact title (remakes included), so a
query is judged on titles, as the person who wrote it did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from workbench import WorkbenchError


@dataclass(frozen=True)
class Query:
    """A free-text query and the titles a person would call right answers."""

    query: str
    relevant: tuple[str, ...]


def load_queries(path: Path, items: pd.DataFrame | None = None) -> list[Query]:
    """Read a query-set YAML (``queries: [{query, relevant: [titles]}]``).

    With ``items``, every relevant title must be a catalog title: an error names the ones
    that are not, so a typo cannot silently lower recall.
    """
    if not path.is_file():
        raise WorkbenchError(f"query set {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise WorkbenchError(f"query set {path} is not valid YAML: {exc}") from None
    entries = doc.get("queries") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise WorkbenchError(f"query set {path} needs a non-empty 'queries' list")
    queries = []
    for n, entry in enumerate(entries):
        if (not isinstance(entry, dict) or not isinstance(entry.get("query"), str)
                or not entry["query"].strip() or not isinstance(entry.get("relevant"), list)
                or not entry["relevant"]):
            raise WorkbenchError(f"query set {path}, entry {n}: needs 'query' (text) and "
                                 f"'relevant' (a non-empty list of titles)")
        queries.append(Query(entry["query"].strip(), tuple(str(t) for t in entry["relevant"])))
    if items is not None:
        titles = set(items["title"])
        unknown = sorted({t for q in queries for t in q.relevant if t not in titles})
        if unknown:
            raise WorkbenchError(f"query set {path} names titles not in the catalog: {unknown}")
    return queries


def query_set_metrics(
    queries: Sequence[Query], search: Callable[[str, int], pd.DataFrame], k: int = 10,
    depth: int = 100,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Mean recall@k and MRR over ``queries``; also a per-query table.

    ``search(text, n)`` returns a frame with a ``title`` column, best first.
    """
    rows = []
    for q in queries:
        titles = search(q.query, depth)["title"].tolist()
        relevant = set(q.relevant)
        found = {t for t in titles[:k] if t in relevant}
        first = next((r for r, t in enumerate(titles, 1) if t in relevant), None)
        rows.append({"query": q.query, f"recall@{k}": len(found) / len(relevant),
                     "rr": 1.0 / first if first else 0.0, "first_rank": first,
                     "top3": " | ".join(titles[:3])})
    table = pd.DataFrame(rows)
    return {f"recall_at_{k}": float(table[f"recall@{k}"].mean()),
            "mrr": float(table["rr"].mean())}, table


def genre_precision_at_k(
    items: pd.DataFrame, similar: Callable[[int, int], pd.DataFrame], k: int = 10,
    sample: int = 300, seed: int = 42,
) -> float:
    """Mean share of each seed's top-``k`` similar items that share a genre with it.

    Seeds are a seeded sample of ``sample`` items that have genres.
    """
    genres = items.set_index("item_id")["genres"].map(set)
    candidates = genres[genres.map(len) > 0].index.to_numpy()
    rng = np.random.default_rng(seed)
    seeds = rng.choice(candidates, size=min(sample, len(candidates)), replace=False)
    precisions = []
    for seed_id in seeds:
        neighbours = similar(int(seed_id), k)["item_id"]
        hits = sum(bool(genres[seed_id] & genres[n]) for n in neighbours)
        precisions.append(hits / k)
    return float(np.mean(precisions))


def evaluate_content(
    engine, queries: Sequence[Query] | None, k: int = 10, genre_sample: int = 300,
    seed: int = 42,
) -> tuple[dict[str, float], pd.DataFrame | None]:
    """Genre precision@k of ``engine.similar`` and, with ``queries``, recall@k and MRR of
    ``engine.search``; returns the metrics and the per-query table."""
    metrics = {f"genre_precision_at_{k}": genre_precision_at_k(
        engine.items.reset_index(drop=True), engine.similar, k, genre_sample, seed)}
    table = None
    if queries:
        query_metrics, table = query_set_metrics(queries, engine.search, k)
        metrics.update({f"query_{name}": value for name, value in query_metrics.items()})
    return metrics, table
