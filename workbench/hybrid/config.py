"""The hybrid's request defaults (:class:`HybridConfig`), in a module of their own so that
the command line and the dashboard read them without loading the recommender."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HybridConfig(BaseModel):
    """Defaults of every hybrid request (each method takes them as keyword overrides)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.3, ge=0, le=1)
    """Weight of content similarity against predicted preference. 0.3: notebook 04's best
    NDCG@10 on movies, and within one standard error of the best on anime (see docs/hybrid.md)."""
    strategy: Literal["blend", "rrf"] = "blend"
    candidates: int = Field(100, gt=0)
    """Content candidates an AI pick re-ranks."""
    max_per_franchise: int = Field(1, ge=0)
    """At most this many results per franchise; 0 switches the filter off."""
    exclude_seed_franchise: bool = False
    """Drop every item of the seed item's franchise ("more like this, but not sequels")."""
    mmr_lambda: float = Field(1.0, ge=0, le=1)
    """Maximal marginal relevance trade-off; 1 = no diversity re-ranking."""
    exclude_seen: bool = True
    """Leave out items the user already rated (or listed as liked)."""
    feed_pool: int = Field(500, gt=0)
    """Trending items the personalised feed ranks for the user."""
    trending: Literal["blend", "popularity", "recent", "rating"] = "blend"
    """What "trending" means for the feed: provider popularity, release year, weighted
    rating, or the mean of their percentile ranks (blend)."""
    neighbours: int = Field(50, gt=0)
    """Training users a new user is folded in from."""
