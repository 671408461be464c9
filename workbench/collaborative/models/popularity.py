"""Popularity: the baseline every model must beat by a margin.

Implicit: an item's score is its number of training interactions. Explicit: the item's mean
rating damped toward the global mean, ``(sum + d * mean) / (count + d)``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from workbench.collaborative.base import CollaborativeModel, ModelParams
from workbench.collaborative.registry import register


@register
class Popularity(CollaborativeModel):
    name = "popularity"
    objectives = ("implicit", "explicit")
    summary = "training interaction count (explicit: damped item mean rating)"
    score_label = "popularity"

    class Params(ModelParams):
        damping: float = Field(5.0, ge=0)
        """Explicit objective: pseudo-ratings at the global mean added to every item."""

    item_scores: np.ndarray
    fallbacks = ()

    def fit(self, train, validation, context) -> None:
        counts = np.bincount(train.item, minlength=train.n_items).astype(np.float32)
        if self.config.objective == "implicit":
            self.item_scores = counts
            return
        sums = np.bincount(train.item, weights=train.rating, minlength=train.n_items)
        mean = float(train.rating.mean()) if len(train) else 0.0
        damping = self.params.damping
        self.item_scores = ((sums + damping * mean) / (counts + damping)).astype(np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(users), self.n_items)).copy()

    def score_indices(self, user_index, item_index) -> np.ndarray:
        return self.item_scores[np.asarray(item_index, np.int64).reshape(-1)].astype(np.float32)

    def score_history(self, liked, items) -> np.ndarray:
        return self.item_scores[np.asarray(items, np.int64)].astype(np.float32)

    def _weights(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores}

    def _restore(self, weights) -> None:
        self.item_scores = weights["item_scores"]
