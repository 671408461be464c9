"""Evaluation metrics and protocols.

Content retrieval (issue 3):

- :func:`genre_precision_at_k`: for "more like this", the share of the top-k neighbours that
  share at least one genre with the seed item, averaged over seed items.
- :func:`query_set_metrics`: for free-text queries with human-judged relevant titles,
  recall@k (share of the relevant titles in the top k), hit@k (share of queries with at least
  one relevant title in the top k: "found what I meant") and MRR (reciprocal rank of the
  first relevant result, 0 when none is in the top ``depth``). Recall@k is the stricter one
  and the figure docs/content.md and notebook 02 lead with.

A relevant title matches every catalog item with that exact title (remakes included), so a
query is judged on titles, as the person who wrote it did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import WorkbenchError
from workbench.storage import read_yaml

QUERY_SPLITS = ("validation", "test")


@dataclass(frozen=True)
class Query:
    """A free-text query, the titles a person would call right answers, and its split
    (``validation``: choose settings on it; ``test``: report only; ``""``: unsplit)."""

    query: str
    relevant: tuple[str, ...]
    split: str = ""


def default_queries_path(dataset: str, settings=None) -> Path:
    """The team query set of ``dataset``: ``<experiments_dir>/queries/<dataset>.yaml`` when a
    user keeps their own there, else the one shipped in the checkout's ``experiments/``."""
    from workbench.settings import get_settings

    settings = settings or get_settings()
    return settings.in_effect(settings.queries_file(dataset))


def load_queries(path: Path, items: pd.DataFrame | None = None, split: str | None = None
                 ) -> list[Query]:
    """Read a query-set YAML (``queries: [{query, relevant: [titles], split}]``).

    With ``items``, every relevant title must be a catalog title: an error names the ones
    that are not, so a typo cannot silently lower recall. With ``split``, only the queries of
    that split (``validation`` or ``test``).
    """
    if split is not None and split not in QUERY_SPLITS:
        raise WorkbenchError(f"query split must be one of {', '.join(QUERY_SPLITS)}, got "
                             f"{split!r}")
    doc = read_yaml(path, "query set", WorkbenchError)
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
        part = entry.get("split", "")
        if part and part not in QUERY_SPLITS:
            raise WorkbenchError(f"query set {path}, entry {n}: split must be one of "
                                 f"{', '.join(QUERY_SPLITS)}, got {part!r}")
        queries.append(Query(entry["query"].strip(), tuple(str(t) for t in entry["relevant"]),
                             part))
    if split is not None:
        queries = [q for q in queries if q.split == split]
        if not queries:
            raise WorkbenchError(f"query set {path} has no {split!r} queries")
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
    """Mean recall@k, hit@k and MRR over ``queries``; also a per-query table.

    ``search(text, n)`` returns a frame with a ``title`` column, best first.
    """
    rows = []
    for q in queries:
        titles = search(q.query, depth)["title"].tolist()
        relevant = set(q.relevant)
        found = {t for t in titles[:k] if t in relevant}
        first = next((r for r, t in enumerate(titles, 1) if t in relevant), None)
        rows.append({"query": q.query, f"recall@{k}": len(found) / len(relevant),
                     f"hit@{k}": float(bool(found)),
                     "rr": 1.0 / first if first else 0.0, "first_rank": first,
                     "top3": " | ".join(titles[:3])})
    table = pd.DataFrame(rows)
    return {f"recall_at_{k}": float(table[f"recall@{k}"].mean()),
            f"hit_at_{k}": float(table[f"hit@{k}"].mean()),
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


def ranking_ablation(ranking) -> dict:
    """``ranking`` and the variants that each leave one part out, by name: "dense only",
    "without prior", "without BM25", and the ranking itself as "full"."""
    from workbench.content.ranking import RankingConfig

    return {"dense only": RankingConfig(lexical_weight=0, prior_weight=0, pool=ranking.pool),
            "without prior": ranking.model_copy(update={"prior_weight": 0.0}),
            "without BM25": ranking.model_copy(update={"lexical_weight": 0.0}),
            "full": ranking}


def search_ablation(
    engine, queries: Sequence[Query], variants: dict, k: int = 10,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score ``engine.search`` under each ranking of ``variants`` (name -> RankingConfig) on
    each split of ``queries``.

    Returns a summary (variant, split, recall@k, hit@k, MRR) and a per-query table: the rank
    of the first relevant title under each variant (empty when not in the top 100).
    """
    splits = sorted({q.split for q in queries}, key=lambda s: (s not in QUERY_SPLITS, s))
    summary, ranks = [], {}
    for name, ranking in variants.items():
        def search(text: str, n: int, ranking=ranking) -> pd.DataFrame:
            return engine.search(text, n, ranking)

        for split in splits:
            part = [q for q in queries if q.split == split]
            metrics, table = query_set_metrics(part, search, k)
            summary.append({"variant": name, "split": split or "all", **metrics})
            for q, first in zip(part, table["first_rank"], strict=True):
                ranks.setdefault(q.query, {"query": q.query, "split": q.split})[name] = first
    per_query = pd.DataFrame(list(ranks.values()))
    for name in variants:
        per_query[name] = per_query[name].astype("Int64")
    return pd.DataFrame(summary), per_query


# ------------------------------------------------------------------------------------------
# Ranking and rating metrics (collaborative and hybrid evaluation)
#
# A ranked list is a sequence of item ids, best first; ``relevant`` is the set of held-out
# items of that user. Every @k metric is computed per user and averaged over users.


def hit_rate_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """1 if any relevant item is in the top ``k``, else 0."""
    return float(any(item in relevant for item in ranked[:k]))


def precision_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Relevant items in the top ``k``, divided by ``k``."""
    return sum(item in relevant for item in ranked[:k]) / k


def recall_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Relevant items in the top ``k``, divided by the number of relevant items."""
    if not relevant:
        return 0.0
    return sum(item in relevant for item in ranked[:k]) / len(relevant)


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Binary-relevance NDCG@k with the log2(rank + 1) discount."""
    gains = [1.0 / np.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant]
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return float(sum(gains) / ideal) if ideal else 0.0


def average_precision_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """AP@k: mean of precision@i at each rank i <= k holding a relevant item, divided by
    ``min(len(relevant), k)`` (the usual MAP@k normalisation)."""
    hits, total = 0, 0.0
    for rank, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    denominator = min(len(relevant), k)
    return total / denominator if denominator else 0.0


def reciprocal_rank(ranked: Sequence[int], relevant: set[int]) -> float:
    """1 / rank of the first relevant item (0 when none is ranked)."""
    for rank, item in enumerate(ranked, start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ranking_metrics(
    rankings: dict[int, Sequence[int]], relevant: dict[int, set[int]], k: int
) -> dict[str, float]:
    """Mean HR, NDCG, MAP, precision, recall @k and MRR over the users of ``relevant``."""
    users = [u for u in relevant if relevant[u]]
    if not users:
        raise WorkbenchError("no user has a held-out item to evaluate")
    per = {name: [] for name in ("hr", "ndcg", "map", "precision", "recall", "mrr")}
    for u in users:
        ranked, rel = list(rankings.get(u, [])), relevant[u]
        per["hr"].append(hit_rate_at_k(ranked, rel, k))
        per["ndcg"].append(ndcg_at_k(ranked, rel, k))
        per["map"].append(average_precision_at_k(ranked, rel, k))
        per["precision"].append(precision_at_k(ranked, rel, k))
        per["recall"].append(recall_at_k(ranked, rel, k))
        per["mrr"].append(reciprocal_rank(ranked, rel))
    out = {f"{name}_at_{k}": float(np.mean(v)) for name, v in per.items() if name != "mrr"}
    out["mrr"] = float(np.mean(per["mrr"]))
    return out


def rmse(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Root mean squared error (scikit-learn)."""
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y_true, y_pred))


def mae(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean absolute error (scikit-learn)."""
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y_true, y_pred))


def beyond_accuracy(
    rankings: dict[int, Sequence[int]], item_popularity: pd.Series, n_items: int, k: int
) -> dict[str, float]:
    """Catalog coverage, novelty and popularity bias of the top-``k`` lists.

    ``item_popularity``: training interactions per item id. Coverage is the share of the
    ``n_items`` catalog recommended to anyone; novelty the mean ``-log2`` of the share of users
    who interacted with a recommended item; popularity bias the mean training popularity of the
    recommended items.
    """
    lists = [list(r)[:k] for r in rankings.values()]
    recommended = [i for lst in lists for i in lst]
    if not recommended:
        return {f"coverage_at_{k}": 0.0, f"novelty_at_{k}": 0.0, f"popularity_bias_at_{k}": 0.0}
    pop = item_popularity.reindex(recommended).fillna(0).to_numpy(dtype=float)
    share = np.clip(pop / max(float(item_popularity.max()), 1.0), 1e-12, None)
    return {
        f"coverage_at_{k}": len(set(recommended)) / n_items,
        f"novelty_at_{k}": float(np.mean(-np.log2(share))),
        f"popularity_bias_at_{k}": float(pop.mean()),
    }


# ------------------------------------------------------------------------------------------
# Protocols for collaborative models (anything with ``ids``, ``seen``, ``score_indices``)


def _test_pairs(model, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User and item indices of the test rows whose user and item the model knows, and the
    boolean mask of those rows."""
    users = model.ids.lookup_users(test["user_id"])
    items = model.ids.lookup_items(test["item_id"])
    known = (users >= 0) & (items >= 0)
    return users[known], items[known], known


def sampled_ranking(model, test: pd.DataFrame, k: int = 10, negatives: int = 100,
                    seed: int = 42) -> dict[str, float]:
    """The NCF paper's protocol: each test item ranked among ``negatives`` sampled items the
    user never interacted with; HR@k and NDCG@k. Comparable with published numbers, but
    sampled metrics can mislead: trust :func:`full_ranking`."""
    from workbench.data.sampling import sample_negatives

    users, items, known = _test_pairs(model, test)
    skipped = int((~known).sum())
    n_items = model.n_items
    seen = np.unique(np.concatenate(
        [np.concatenate([u * n_items + v for u, v in model.seen.items()] or [np.empty(0)]),
         users * n_items + items]).astype(np.int64))
    rng = np.random.default_rng(seed)
    nu, ni = sample_negatives(users, n_items, seen, negatives, rng)
    scores_pos = model.score_indices(users, items)
    scores_neg = model.score_indices(nu, ni).reshape(len(users), negatives)
    rank = (scores_neg > scores_pos[:, None]).sum(1)  # 0 = first
    hit = rank < k
    return {f"sampled_hr_at_{k}": float(hit.mean()),
            f"sampled_ndcg_at_{k}": float(np.where(hit, 1 / np.log2(rank + 2), 0).mean()),
            "sampled_users_skipped": float(skipped)}


SCORE_BLOCK = 1 << 24
"""Scores held at once while ranking (64 MB of float32): the users of a block times the
catalog, so memory stays bounded whatever the catalog size."""


def sample_users(rows: pd.DataFrame, max_users: int | None, seed: int) -> pd.DataFrame:
    """The rows of at most ``max_users`` users, a seeded sample where there are more (all
    rows otherwise): evaluation at scale ranks the whole catalog for a sample of users."""
    users = rows["user_id"].unique()
    if max_users is None or len(users) <= max_users:
        return rows
    chosen = np.random.default_rng(seed).choice(users, size=max_users, replace=False)
    return rows[rows["user_id"].isin(chosen)].reset_index(drop=True)


def rank_users(model, users: Sequence[int], depth: int, chunk: int = 64
               ) -> dict[int, list[int]]:
    """The top ``depth`` item indices of each user index, the user's ``model.seen`` items
    excluded, best first (ties broken by item index). Users are scored ``chunk`` at a time,
    fewer on a large catalog (:data:`SCORE_BLOCK`)."""
    rankings: dict[int, list[int]] = {}
    order = list(users)
    depth = min(depth, model.n_items)
    chunk = max(1, min(chunk, SCORE_BLOCK // max(1, model.n_items)))
    empty = np.empty(0, np.int64)
    for start in range(0, len(order), chunk):
        block = np.asarray(order[start:start + chunk], np.int64)
        scores = np.array(model.score_users(block), dtype=np.float32)  # our own copy
        depth = min(depth, scores.shape[1])
        seen = [model.seen.get(int(u), empty) for u in block]
        rows = np.repeat(np.arange(len(block)), [len(s) for s in seen])
        scores[rows, np.concatenate(seen) if seen else empty] = -np.inf
        top = top_per_row(scores, depth)
        for row, u in enumerate(block):
            cut = top[row]
            rankings[int(u)] = cut[np.lexsort((cut, -scores[row, cut].astype(np.float64)))
                                   ].tolist()
    return rankings


TORCH_TOPK_FROM = 100_000
"""Catalog size from which :func:`top_per_row` selects with ``torch.topk`` (multi-threaded;
about 10x faster than NumPy's introselect over a million items, measured) instead of NumPy's
``argpartition`` (no torch import below it)."""


def top_per_row(scores: np.ndarray, depth: int) -> np.ndarray:
    """Column indices of the ``depth`` highest scores of each row, in no particular order
    (``(rows, depth)``; which of several equal scores at the cut is taken is unspecified).
    NaN never counts as high."""
    if scores.shape[1] >= TORCH_TOPK_FROM:
        import torch

        scores[np.isnan(scores)] = -np.inf
        return torch.topk(torch.from_numpy(scores), depth, dim=1, sorted=False
                          ).indices.numpy()
    # kth at the front: selecting near the end of a row of mostly equal scores (a sparse
    # model's zeros) is 30x slower in NumPy's introselect (measured)
    return np.argpartition(-scores, depth - 1, axis=1)[:, :depth]


def full_ranking(model, test: pd.DataFrame, k: int = 10, chunk: int = 64,
                 item_popularity: pd.Series | None = None, per_user: bool = False):
    """Every test user's held-out items ranked among **all** catalog items they did not train
    on (``model.seen`` excluded); HR, NDCG, MAP, precision, recall @k, MRR, and with
    ``item_popularity`` coverage, novelty and popularity bias.

    With ``per_user``, returns ``(metrics, table)``: one row per evaluated user (``user_id``
    and each @k metric), the input of paired significance tests.
    """
    users, items, known = _test_pairs(model, test)
    skipped = int((~known).sum())
    relevant: dict[int, set[int]] = {}
    for u, i in zip(users, items, strict=True):
        relevant.setdefault(int(u), set()).add(int(i))
    n_items = model.n_items
    depth = min(max(k, 100), n_items)  # deep enough for MRR, at most the catalog
    rankings = rank_users(model, sorted(relevant), depth, chunk)
    metrics = ranking_metrics(rankings, relevant, k)
    metrics = {f"full_{name}": v for name, v in metrics.items()}
    if item_popularity is not None:
        id_rankings = {u: model.ids.items[r].tolist() for u, r in rankings.items()}
        metrics.update(beyond_accuracy(id_rankings, item_popularity, n_items, k))
    metrics["full_users_evaluated"] = float(len(relevant))
    metrics["full_rows_skipped"] = float(skipped)
    if not per_user:
        return metrics
    rows = [{"user_id": int(model.ids.users[u]),
             f"ndcg_at_{k}": ndcg_at_k(rankings[u], rel, k),
             f"recall_at_{k}": recall_at_k(rankings[u], rel, k),
             f"hr_at_{k}": hit_rate_at_k(rankings[u], rel, k)}
            for u, rel in relevant.items()]
    return metrics, pd.DataFrame(rows)


def rating_prediction(model, test: pd.DataFrame, train: pd.DataFrame) -> dict[str, float]:
    """RMSE and MAE on held-out ratings, beside the global-mean baseline's."""
    users, items, known = _test_pairs(model, test)
    predicted = model.score_indices(users, items)
    truth = test.loc[known, "rating"].to_numpy(float)
    baseline = np.full(len(truth), float(train["rating"].mean()))
    return {"rmse": rmse(truth, predicted), "mae": mae(truth, predicted),
            "rmse_global_mean": rmse(truth, baseline), "mae_global_mean": mae(truth, baseline)}


# ------------------------------------------------------------------------------------------
# Hybrid: the alpha trade-off of AI pick (notebook 04)


def seed_items(train: pd.DataFrame, per_user: int = 1, seed: int = 42) -> pd.DataFrame:
    """Each user's ``per_user`` most recent training items rated at or above their own mean
    (random ones when the dataset has no timestamps): user_id, item_id."""
    rated = train.assign(_mean=train.groupby("user_id")["rating"].transform("mean"))
    liked = rated[rated["rating"] >= rated["_mean"]]
    if liked["timestamp"].notna().any():
        order = liked.sort_values(["user_id", "timestamp", "item_id"],
                                  ascending=[True, False, True])
    else:
        rng = np.random.default_rng(seed)
        order = liked.assign(_r=rng.random(len(liked))).sort_values(["user_id", "_r"])
    return order.groupby("user_id").head(per_user)[["user_id", "item_id"]].reset_index(
        drop=True)


def hybrid_tradeoff(recommender, train: pd.DataFrame, test: pd.DataFrame,
                    alphas: Sequence[float], k: int = 10, seeds_per_user: int = 1,
                    max_users: int | None = None, seed: int = 42,
                    **options) -> tuple[pd.DataFrame, dict[str, float]]:
    """AI pick's accuracy/diversity trade-off over ``alphas``, with the franchise filter off
    and on (``max_per_franchise`` 0 and 1).

    For each test user, each seed item from their training history (:func:`seed_items`) is a
    "more like this" request; the content candidates are re-ranked for the user and the top
    ``k`` compared with the user's held-out items. Candidates are computed once per request
    and re-ranked per alpha. Returns one row per (alpha, filter) with NDCG@k, recall@k,
    HR@k (mean over requests) and the standard error of NDCG, intra-list diversity (mean
    pairwise cosine distance of content vectors), franchise duplicate rate, catalog coverage
    and novelty; and a dict of request-level facts (requests, users, candidate recall: the
    share of held-out items among the candidates, the ceiling for every alpha).

    ``recommender.collaborative`` must have been trained on ``train``; a model trained on a
    different split would have seen the held-out items.
    """
    model = recommender.collaborative
    users_known = set(model.ids.users.tolist())
    relevant_by_user = test.groupby("user_id")["item_id"].apply(lambda s: set(s.tolist()))
    seeds = seed_items(train, seeds_per_user, seed)
    seeds = seeds[seeds["user_id"].isin(relevant_by_user.index)
                  & seeds["user_id"].isin(users_known)
                  & seeds["item_id"].isin(recommender.content.index.item_ids)]
    users = seeds["user_id"].unique()
    if max_users and len(users) > max_users:  # a seeded sample of the users
        keep = np.random.default_rng(seed).choice(users, size=max_users, replace=False)
        seeds = seeds[seeds["user_id"].isin(keep)]
    if seeds.empty:
        raise WorkbenchError("no test user has a seed item to evaluate the hybrid with")
    requests, relevant, in_candidates = [], {}, []
    for n, (user, item) in enumerate(seeds.itertuples(index=False)):
        cands = recommender.candidates(item_id=int(item), user_id=int(user), **options)
        requests.append((n, cands))
        relevant[n] = relevant_by_user[user]
        in_candidates.append(len(relevant[n] & set(cands.item_ids.tolist())) / len(relevant[n]))
    popularity = train.groupby("item_id").size()
    vectors, n_items = recommender.content.index, len(recommender.content.index)
    franchise = recommender.franchise_of
    rows = []
    for alpha in alphas:
        for cap in (0, 1):
            lists, diversity, duplicates = {}, [], []
            for n, cands in requests:
                top, _, _ = recommender.rank_positions(cands, k, "hybrid", alpha=float(alpha),
                                                       max_per_franchise=cap, **options)
                ids = cands.item_ids[top]
                lists[n] = ids.tolist()
                diversity.append(intra_list_diversity(vectors.vectors[vectors.rows_of(ids)]))
                duplicates.append(duplicate_rate([franchise(i) for i in ids]))
            per_request = [ndcg_at_k(lists[n], relevant[n], k) for n in lists]
            metrics = ranking_metrics(lists, relevant, k)
            rows.append({
                "alpha": float(alpha), "franchise_filter": bool(cap),
                f"ndcg_at_{k}": metrics[f"ndcg_at_{k}"],
                f"ndcg_at_{k}_se": float(np.std(per_request, ddof=1) / np.sqrt(len(lists)))
                if len(lists) > 1 else 0.0,
                f"recall_at_{k}": metrics[f"recall_at_{k}"], f"hr_at_{k}": metrics[f"hr_at_{k}"],
                "intra_list_diversity": float(np.mean(diversity)),
                "franchise_duplicate_rate": float(np.mean(duplicates)),
                **beyond_accuracy(lists, popularity, n_items, k),
            })
    facts = {"requests": float(len(requests)), "users": float(seeds["user_id"].nunique()),
             "candidate_recall": float(np.mean(in_candidates))}
    return pd.DataFrame(rows), facts


def supported_alphas(table: pd.DataFrame, k: int = 10, franchise_filter: bool = True
                     ) -> tuple[float, list[float]]:
    """The alpha with the best NDCG@k, and every alpha within one standard error of it (the
    values the data cannot tell apart)."""
    rows = table[table["franchise_filter"] == franchise_filter]
    best = rows.loc[rows[f"ndcg_at_{k}"].idxmax()]
    floor = best[f"ndcg_at_{k}"] - best[f"ndcg_at_{k}_se"]
    close = rows[rows[f"ndcg_at_{k}"] >= floor]["alpha"].tolist()
    return float(best["alpha"]), [float(a) for a in close]


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance (1 - cosine) of L2-normalised rows; 0 for < 2 rows."""
    v = np.asarray(vectors, np.float64)
    n = len(v)
    if n < 2:
        return 0.0
    sims = v @ v.T
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


def duplicate_rate(groups: Sequence[object]) -> float:
    """Share of list positions whose group already appeared earlier in the list."""
    if not len(groups):
        return 0.0
    return (len(groups) - len(set(groups))) / len(groups)
