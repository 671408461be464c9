"""Negative sampling: items a user never interacted with, drawn at random. Training uses it
(NCF's negatives per positive) and so does evaluation (the sampled ranking protocol of the NCF
paper); both work in index space (users and items as contiguous indices)."""

from __future__ import annotations

import numpy as np


def sample_negatives(users: np.ndarray, n_items: int, seen: np.ndarray, per_positive: int,
                     rng: np.random.Generator, weights: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``per_positive`` random unseen items for each entry of ``users`` (user indices);
    ``seen`` holds the sorted ``user * n_items + item`` keys to avoid. Items are drawn
    uniformly, or with probabilities ``weights`` (summing to 1)."""
    u = np.repeat(np.asarray(users, np.int64), per_positive)

    def draw(size: int) -> np.ndarray:
        if weights is None:
            return rng.integers(0, n_items, size=size)
        return rng.choice(n_items, size=size, p=weights)

    items = draw(len(u))
    for _ in range(20):
        clash = np.isin(u * n_items + items, seen)
        if not clash.any():
            break
        items[clash] = draw(int(clash.sum()))
    return u, items
