"""Pure re-ranking functions: score fusion, franchise capping and MMR diversity.

All work on arrays aligned with one candidate list and return positions into it, so they
can be tested on hand-made inputs and reused by the evaluation without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Strategy = Literal["blend", "rrf"]
STRATEGIES: tuple[str, ...] = ("blend", "rrf")
RRF_K = 60
"""The usual reciprocal-rank-fusion constant (Cormack et al., 2009)."""


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] over this request's candidates; all-equal values map to 1."""
    x = np.asarray(x, np.float64)
    lo, hi = np.min(x, initial=np.inf), np.max(x, initial=-np.inf)
    if not np.isfinite(lo) or hi - lo <= 1e-12:
        return np.ones_like(x)
    return (x - lo) / (hi - lo)


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks by descending value (ties by position)."""
    order = np.argsort(-np.asarray(x, np.float64), kind="stable")
    out = np.empty(len(order), np.int64)
    out[order] = np.arange(1, len(order) + 1)
    return out


def fuse_scores(similarity: np.ndarray, preference: np.ndarray, alpha: float,
                strategy: Strategy = "blend") -> np.ndarray:
    """Final score per candidate.

    ``blend``: ``alpha * minmax(similarity) + (1 - alpha) * minmax(preference)``.
    ``rrf``: ``alpha / (60 + rank_sim) + (1 - alpha) / (60 + rank_pref)``, a weighted
    reciprocal-rank fusion that ignores score scales altogether.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if strategy == "blend":
        return alpha * minmax(similarity) + (1 - alpha) * minmax(preference)
    if strategy == "rrf":
        return alpha / (RRF_K + ranks(similarity)) + (1 - alpha) / (RRF_K + ranks(preference))
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")


def order_by(final: np.ndarray, similarity: np.ndarray, preference: np.ndarray,
             alpha: float) -> np.ndarray:
    """Positions sorted by ``final`` descending; ties go to the component with the larger
    weight (similarity when ``alpha >= 0.5``), then to the original (content) position.

    With this tie-break ``alpha=1`` reproduces the candidates' similarity order exactly and
    ``alpha=0`` the preference order, even where normalised scores tie.
    """
    first = similarity if alpha >= 0.5 else preference
    position = np.arange(len(final))
    return np.lexsort((position, -np.asarray(first, np.float64), -np.round(final, 12)))


def cap_per_group(order: Sequence[int], groups: Sequence[object], max_per_group: int | None,
                  exclude: set[object] | None = None) -> tuple[list[int], list[int]]:
    """Walk ``order`` keeping at most ``max_per_group`` positions per group (None: no cap),
    dropping every position whose group is in ``exclude``. Returns (kept, dropped)."""
    if max_per_group is not None and max_per_group < 1:
        raise ValueError(f"max_per_franchise must be >= 1 or None, got {max_per_group!r}")
    exclude = exclude or set()
    counts: dict[object, int] = {}
    kept, dropped = [], []
    for pos in order:
        group = groups[pos]
        if group in exclude or (max_per_group is not None
                                and counts.get(group, 0) >= max_per_group):
            dropped.append(int(pos))
            continue
        counts[group] = counts.get(group, 0) + 1
        kept.append(int(pos))
    return kept, dropped


def hidden_above(order: Sequence[int], top: Sequence[int], dropped: Sequence[int]) -> int:
    """How many ``dropped`` positions ranked (in ``order``) above the last one in ``top``:
    what a filter hid from the list a person sees."""
    rank_of = {int(p): r for r, p in enumerate(order)}
    cutoff = max((rank_of[int(p)] for p in top), default=-1)
    return sum(1 for p in dropped if rank_of[int(p)] < cutoff)


def mmr(order: Sequence[int], relevance: np.ndarray, vectors: np.ndarray, k: int,
        lam: float) -> list[int]:
    """Maximal marginal relevance over ``order``: pick ``k`` positions greedily maximising
    ``lam * relevance - (1 - lam) * max cosine to the picks so far``.

    ``relevance`` is min-max scaled over ``order`` first; ``vectors`` are L2-normalised rows
    aligned with the candidates. ``lam=1`` keeps ``order``.
    """
    if not 0.0 <= float(lam) <= 1.0:
        raise ValueError(f"mmr_lambda must be in [0, 1], got {lam!r}")
    order = list(order)
    if not order or k <= 0:
        return []
    rel = minmax(np.asarray(relevance, np.float64)[order])
    vec = np.asarray(vectors, np.float32)[order]
    picked: list[int] = []
    max_sim = np.full(len(order), -np.inf)
    available = np.ones(len(order), bool)
    for _ in range(min(k, len(order))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = np.where(available, lam * rel - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(value))
        picked.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, vec @ vec[best])
    return [order[p] for p in picked]
