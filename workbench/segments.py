"""Per-segment metrics: where in the data a model wins or loses.

A test user falls in one **user segment** by history length (training interactions) and one
**item segment** by the training popularity of their held-out item. The bins are fixed, so a
segment means the same on every dataset (an empty one is left out):

- users: ``1-5``, ``6-20``, ``21-50``, ``51-100``, ``101-200``, ``>200`` training
  interactions (:data:`HISTORY_BINS`);
- items: ``head`` when the items more popular than it hold under 50% of the training
  interactions, ``torso`` under 80%, else ``tail`` (:data:`POPULARITY_SHARES`; items of equal
  popularity share a segment); then, overriding those, ``rare`` for 1 to
  :data:`RARE_RATINGS` training interactions and ``cold`` for none. A user with several
  held-out items of different segments (random holdout) is ``mixed``.

:func:`annotate` adds the columns to a per-user table (``test_per_user.csv``),
:func:`segment_metrics` averages a metric per segment, and :func:`paired_segment_tests`
compares two models per segment with a paired Wilcoxon signed-rank test on their shared users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

HISTORY_BINS = (5, 20, 50, 100, 200)
"""Upper bounds (inclusive) of the user segments by training interactions; above the last
is ``>200``."""
POPULARITY_SHARES = (0.5, 0.8)
"""Share of training interactions held by more popular items below which an item is
``head``, then ``torso``; ``tail`` above."""
RARE_RATINGS = 5
"""At most this many training interactions (at least one): a ``rare`` item."""

KINDS = {"user_segment": "users by history", "item_segment": "items by popularity"}
"""The segment columns of an annotated per-user table and what they group."""


def history_labels(bins: Sequence[int] = HISTORY_BINS) -> list[str]:
    """The user segment labels, shortest history first: ``["1-5", "6-20", ..., ">200"]``."""
    lows = [1, *(b + 1 for b in bins[:-1])]
    return [f"{lo}-{hi}" for lo, hi in zip(lows, bins, strict=True)] + [f">{bins[-1]}"]


ITEM_LABELS = ["head", "torso", "tail", "rare", "cold", "mixed"]
"""The item segment labels, most popular first."""


def history_segment(history: pd.Series, bins: Sequence[int] = HISTORY_BINS) -> pd.Series:
    """Each user's segment label from their number of training interactions."""
    edges = [0, *bins, np.inf]
    return pd.cut(history, edges, labels=history_labels(bins), right=True).astype(str)


def popularity_segment(popularity: pd.Series) -> pd.Series:
    """The segment of each item of ``popularity`` (training interactions per item id, zeros
    allowed): head, torso, tail by the share of interactions held by more popular items,
    overridden by rare (1 to :data:`RARE_RATINGS`) and cold (0)."""
    counts = popularity.astype(float)
    total = max(float(counts.sum()), 1.0)
    per_count = counts.groupby(counts).sum().sort_index(ascending=False)
    before = (per_count.cumsum() - per_count) / total  # share held by strictly more popular
    share = counts.map(before)
    label = np.select([share < POPULARITY_SHARES[0], share < POPULARITY_SHARES[1]],
                      ["head", "torso"], "tail")
    label = np.where(counts <= RARE_RATINGS, "rare", label)
    label = np.where(counts == 0, "cold", label)
    return pd.Series(label, index=popularity.index, name="item_segment")


def annotate(per_user: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """``per_user`` (one row per ``user_id``) with ``history`` (the user's training
    interactions), ``item_popularity`` (training interactions of the held-out item; the
    rarest one's for several), ``user_segment`` and ``item_segment``."""
    counts = train.groupby("item_id").size()
    held = test[test["user_id"].isin(per_user["user_id"])][["user_id", "item_id"]]
    popularity = counts.reindex(counts.index.union(held["item_id"].unique()), fill_value=0)
    segment = popularity_segment(popularity)  # shares over the whole training catalog
    held = held.assign(pop=held["item_id"].map(popularity),
                       segment=held["item_id"].map(segment))
    by_user = held.groupby("user_id").agg(item_popularity=("pop", "min"),
                                          item_segment=("segment", _one_or_mixed))
    history = train.groupby("user_id").size()
    out = per_user.drop(columns=[c for c in ("history", "item_popularity", "user_segment",
                                             "item_segment") if c in per_user.columns])
    out = out.assign(history=out["user_id"].map(history).fillna(0).astype(int))
    out["item_popularity"] = out["user_id"].map(by_user["item_popularity"]).astype("Int64")
    out["user_segment"] = history_segment(out["history"])
    out["item_segment"] = out["user_id"].map(by_user["item_segment"])
    return out


def _one_or_mixed(values: pd.Series) -> str:
    unique = values.unique()
    return str(unique[0]) if len(unique) == 1 else "mixed"


def segment_order(kind: str) -> list[str]:
    """The labels of segment column ``kind`` in display order."""
    return history_labels() if kind == "user_segment" else ITEM_LABELS


def segment_metrics(per_user: pd.DataFrame, metrics: Sequence[str] = ("ndcg_at_10",
                                                                      "recall_at_10")
                    ) -> pd.DataFrame:
    """Mean of each of ``metrics`` per segment of an annotated per-user table: columns
    ``kind`` (``user_segment``, ``item_segment``), ``segment``, ``n`` (users) and the
    metrics; segments in display order, empty ones left out."""
    rows = []
    for kind in KINDS:
        groups = per_user.groupby(kind)
        for label in segment_order(kind):
            if label in groups.groups:
                part = groups.get_group(label)
                rows.append({"kind": kind, "segment": label, "n": len(part),
                             **{m: float(part[m].mean()) for m in metrics}})
    return pd.DataFrame(rows, columns=["kind", "segment", "n", *metrics])


def paired_p_value(a: pd.Series, b: pd.Series) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of ``a`` vs ``b`` (both indexed by user) on the
    users they share: 1.0 when they never differ, None for fewer than two shared users."""
    from scipy.stats import wilcoxon

    paired = a.to_frame("a").join(b.to_frame("b"), how="inner").dropna()
    if len(paired) < 2:
        return None
    if not (paired["a"] - paired["b"]).any():
        return 1.0
    return float(wilcoxon(paired["a"], paired["b"]).pvalue)


def paired_segment_tests(per_user: pd.DataFrame, best: pd.DataFrame,
                         metric: str = "ndcg_at_10") -> pd.DataFrame:
    """Per segment of ``per_user`` (an annotated table), ``metric`` of its users against the
    same users in ``best``: columns ``kind``, ``segment``, ``n`` (shared users), ``mean``,
    ``best_mean`` and ``p`` (:func:`paired_p_value`; NaN when not computable)."""
    other = best.set_index("user_id")[metric]
    rows = []
    for kind in KINDS:
        groups = per_user.groupby(kind)
        for label in segment_order(kind):
            if label not in groups.groups:
                continue
            mine = groups.get_group(label).set_index("user_id")[metric]
            shared = mine.index.intersection(other.index)
            p = paired_p_value(mine.loc[shared], other.loc[shared])
            rows.append({"kind": kind, "segment": label, "n": len(shared),
                         "mean": float(mine.loc[shared].mean()) if len(shared) else np.nan,
                         "best_mean": float(other.loc[shared].mean()) if len(shared)
                         else np.nan, "p": np.nan if p is None else p})
    return pd.DataFrame(rows, columns=["kind", "segment", "n", "mean", "best_mean", "p"])
