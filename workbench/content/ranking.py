"""Free-text ranking: dense similarity fused with BM25 and a query-independent quality prior.

For a query ``q`` and item ``i``::

    score(q, i) = cos(q, i)                                  # dense, the index's vectors
                + lexical_weight * bm25(q, i) / max_j bm25(q, j)
                + prior_weight   * log(1 + votes_i) / log(1 + max_j votes_j)
                - weak_text_penalty * [i has no real plot text]

over the candidates: the ``pool`` best dense matches (FAISS) plus the ``pool`` best BM25
matches, each scored exactly. A normalised blend was chosen over reciprocal-rank fusion by
measurement (validation recall@10 and MRR were higher on both catalogs; the search
ablation in docs/content.md). With all three weights at 0 the ranking is exactly the dense one.

Decisions:

- **The prior** is the log-scaled vote count (TMDB votes, MyAnimeList members): among items
  that match a description about equally, people mean the one they have heard of. Blending in
  the IMDB-style weighted rating as well measured no better, so it is left out.
- **"More like this"** (``similar``) does not use any of this: the seed item is known, the
  left box there is plot (and metadata) similarity, and a prior would only push every answer
  toward the same few popular titles.
- **Weak texts** are items whose plot text is missing or shorter than ``WEAK_TEXT_CHARS``
  (they are embedded from title and genres alone, and a short query sits close to a short
  text). BM25 and the prior already take them out of the way: they held 3.0% of the anime
  top-10 slots on the validation queries with the dense ranking, 0.1% with the fused one. An
  extra penalty measured no gain on validation, so it is an option with default 0.
- The defaults were chosen on the validation half of the team query sets (both catalogs
  together) with ``benchmarks/search_ablation.py``, which also prints the test figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

WEAK_TEXT_CHARS = 40
"""A plot text shorter than this (in characters) counts as missing."""


class RankingConfig(BaseModel):
    """How free-text search ranks (``ContentEngine.search``, the dashboard's left box and the
    AI pick's candidates). All zeros: the dense ranking alone."""

    model_config = ConfigDict(extra="forbid")

    lexical_weight: float = Field(0.5, ge=0)
    """Weight of the BM25 score, normalised by the query's best BM25 score."""
    prior_weight: float = Field(1.2, ge=0)
    """Weight of the quality prior (log vote count scaled to [0, 1]; unknown: the median)."""
    weak_text_penalty: float = Field(0.0, ge=0)
    """Subtracted from items without a real plot text."""
    pool: int = Field(200, gt=0)
    """Candidates taken from each retriever (dense and BM25) before fusion."""

    @property
    def dense_only(self) -> bool:
        """True when the ranking is the dense one."""
        return self.lexical_weight == self.prior_weight == self.weak_text_penalty == 0


def quality_prior(items: pd.DataFrame) -> np.ndarray:
    """``log(1 + votes) / log(1 + max votes)`` per item, in ``items`` order.

    An item whose vote count is unknown (an item added by cold start from a source without
    one) gets the catalog's median prior: unknown is not unpopular, and a new item must still
    be found by its own description.
    """
    votes = pd.to_numeric(items["vote_count"], errors="coerce").astype("float64")
    logs = np.log1p(votes.clip(lower=0).to_numpy(np.float64, na_value=np.nan))
    known = ~np.isnan(logs)
    top = logs[known].max() if known.any() else 0.0
    prior = logs / top if top > 0 else np.where(known, 0.0, np.nan)
    fill = float(np.median(prior[known])) if known.any() else 0.0
    return np.where(known, prior, fill).astype(np.float32)


def weak_text_mask(items: pd.DataFrame) -> np.ndarray:
    """True for items whose plot text is missing or shorter than ``WEAK_TEXT_CHARS``."""
    text = items["text"].astype(object)
    return np.fromiter((not isinstance(t, str) or len(t.strip()) < WEAK_TEXT_CHARS
                        for t in text), bool, len(text))


def fused_scores(dense: np.ndarray, lexical: np.ndarray, prior: np.ndarray,
                 weak: np.ndarray, config: RankingConfig, lexical_max: float) -> np.ndarray:
    """The fused score of candidates (all arrays aligned on the same candidate rows);
    ``lexical_max`` is the query's best BM25 score over the whole catalog."""
    score = dense.astype(np.float32).copy()
    if config.lexical_weight and lexical_max > 0:
        score += np.float32(config.lexical_weight / lexical_max) * lexical
    if config.prior_weight:
        score += np.float32(config.prior_weight) * prior
    if config.weak_text_penalty:
        score -= np.float32(config.weak_text_penalty) * weak
    return score
