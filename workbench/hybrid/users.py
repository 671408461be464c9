"""Users of the hybrid recommender: known users of the collaborative model, and new users
described only by a few liked items.

A new user gets

- a **content profile**: the normalised mean of the liked items' content vectors, and
- a **collaborative fold-in**: item-based models (EASE, item-kNN, the content-aware model,
  popularity) score the liked items directly, as they would a known user's history
  (``model.score_history``); for the others (iALS, BPR, the Keras models), the
  ``neighbours`` training users whose item sets are closest to the liked items (cosine on
  binary interaction vectors) stand in for the new user, and the model's scores for them are
  averaged, weighted by that similarity. Neither needs retraining; when no training user
  shares a liked item there is no neighbour fold-in and the hybrid falls back to the content
  profile (and says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from workbench import WorkbenchError


def parse_liked(text: object, field: str = "liked") -> list[int]:
    """Item ids from ``"1, 2,3"`` (or a list of numbers): what a new user liked, as the CLI's
    ``--liked`` and a served request's ``liked`` give it. A part that is not a whole number is
    an error naming ``field``."""
    from workbench.errors import short_repr

    parts = (list(text) if isinstance(text, list | tuple | np.ndarray)
             else str(text).replace(" ", "").split(","))
    bad = WorkbenchError(f"{field} must be comma-separated item ids, got {short_repr(text)}")
    if any(isinstance(p, bool | np.bool_) or (isinstance(p, float | np.floating) and not (
            np.isfinite(p) and float(p).is_integer())) for p in parts):
        raise bad  # 1.7, true, NaN, Infinity: not an id (1.0 is)
    try:
        return [int(part) for part in parts if part != ""]
    except (TypeError, ValueError, OverflowError):
        raise bad from None


@dataclass(frozen=True)
class NewUser:
    """A user known only by the items they liked (``label`` is for display)."""

    liked: tuple[int, ...]
    label: str = "new user"


class FoldIn:
    """Neighbour fold-in over a collaborative model's training interactions."""

    def __init__(self, model, neighbours: int = 50) -> None:
        self.model = model
        self.neighbours = neighbours
        seen = model.seen
        rows = np.concatenate([np.full(len(v), u) for u, v in seen.items()]) if seen else \
            np.empty(0, np.int64)
        cols = np.concatenate(list(seen.values())) if seen else rows
        shape = (len(model.ids.users), model.n_items)
        self._matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                                         shape=shape).tocsc()
        self._user_norm = np.sqrt(np.asarray(self._matrix.sum(axis=1)).reshape(-1))

    def similar_users(self, liked_index: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``neighbours`` user indices with their cosine similarity (> 0) to the liked
        items (item indices of the model)."""
        liked_index = np.unique(np.asarray(liked_index, np.int64))
        if not len(liked_index):
            return np.empty(0, np.int64), np.empty(0)
        overlap = np.asarray(self._matrix[:, liked_index].sum(axis=1)).reshape(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            cosine = overlap / (self._user_norm * np.sqrt(len(liked_index)))
        cosine = np.nan_to_num(cosine)
        candidates = np.flatnonzero(cosine > 0)
        if not len(candidates):
            return candidates, np.empty(0)
        top = candidates[np.argsort(-cosine[candidates], kind="stable")[:self.neighbours]]
        return top, cosine[top]

    def score(self, liked_index: Sequence[int], item_index: np.ndarray) -> np.ndarray | None:
        """The model's own history scores where it has them, else the similarity-weighted
        mean of the neighbours' scores for ``item_index`` (None when no training user shares
        a liked item)."""
        liked_index = np.unique(np.asarray(liked_index, np.int64))
        users, weights = self.similar_users(liked_index)
        if not len(users):  # nobody interacted with a liked item: nothing to fold in
            return None
        direct = self.model.score_history(liked_index, np.asarray(item_index, np.int64))
        if direct is not None:
            return np.asarray(direct, np.float64)
        item_index = np.asarray(item_index, np.int64)
        scores = self.model.score_indices(np.repeat(users, len(item_index)),
                                          np.tile(item_index, len(users)))
        scores = scores.reshape(len(users), len(item_index))
        return (weights[:, None] * scores).sum(axis=0) / weights.sum()
