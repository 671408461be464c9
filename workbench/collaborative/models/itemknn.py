"""Item-based k-nearest neighbours (Sarwar et al., 2001; Deshpande & Karypis, 2004).

The similarity of two items is the cosine of their user columns with a shrinkage term in the
denominator, ``x_i . x_j / (|x_i| |x_j| + shrinkage)``, which damps similarities supported by
few users. Each item keeps its ``neighbours`` most similar items; a user's score for an item
is the sum of its similarities to the user's training items (each counted once, whatever
the weighting). The similarity matrix is sparse
(``neighbours`` entries per item) and saved as CSR arrays.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeModel, ModelParams
from workbench.collaborative.registry import register

_BLOCK = 2048


@register
class ItemKNN(CollaborativeModel):
    name = "itemknn"
    summary = "item-item cosine similarity with shrinkage, top neighbours per item"

    class Params(ModelParams):
        neighbours: int = Field(20, gt=0)
        """Most similar items each item keeps."""
        shrinkage: float = Field(10.0, ge=0)
        """Added to the cosine's denominator: damps similarities that few users support."""
        weighting: Literal["binary", "rating"] = "binary"
        """Interaction values: 1 for every rating, or the rating itself."""

    similarity: sparse.csr_matrix

    def fit(self, train, validation, context) -> None:
        p = self.params
        x = train.matrix(p.weighting).tocsc().astype(np.float64)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        gram = (x.T @ x).tocsr()
        rows, cols, vals = [], [], []
        n = train.n_items
        for start in range(0, n, _BLOCK):  # dense blocks of the Gram matrix, top-k per row
            block = gram[start:start + _BLOCK].toarray()
            denom = norms[start:start + _BLOCK, None] * norms[None, :] + p.shrinkage
            with np.errstate(divide="ignore", invalid="ignore"):
                sim = np.where(denom > 0, block / denom, 0.0)
            sim[np.arange(len(sim)), np.arange(start, start + len(sim))] = 0.0
            k = min(p.neighbours, n - 1)
            if k <= 0:
                continue
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            values = np.take_along_axis(sim, top, axis=1)
            keep = values > 0
            rows.append(np.repeat(np.arange(start, start + len(sim)), k)[keep.ravel()])
            cols.append(top.ravel()[keep.ravel()])
            vals.append(values.ravel()[keep.ravel()])
        # similarity[j, i]: how much having j in the history adds to item i's score
        self.similarity = sparse.csr_matrix(
            (np.concatenate(vals or [np.empty(0)]).astype(np.float32),
             (np.concatenate(cols or [np.empty(0, int)]),
              np.concatenate(rows or [np.empty(0, int)]))), shape=(n, n))

    def _history_matrix(self, users: np.ndarray) -> sparse.csr_matrix:
        rows = [self.seen.get(int(u), np.empty(0, np.int64)) for u in users]
        indptr = np.cumsum([0] + [len(r) for r in rows])
        indices = np.concatenate(rows) if rows else np.empty(0, np.int64)
        return sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                                 shape=(len(users), self.n_items))

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self._history_matrix(users) @ self.similarity).todense(),
                          np.float32)

    def score_history(self, liked, items) -> np.ndarray:
        liked = np.unique(np.asarray(liked, np.int64))
        scores = np.asarray(self.similarity[liked].sum(axis=0)).ravel()
        return scores[np.asarray(items, np.int64)].astype(np.float32)

    def _weights(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr,
                "shape": np.asarray(s.shape, np.int64)}

    def _restore(self, weights) -> None:
        self.similarity = sparse.csr_matrix(
            (weights["data"], weights["indices"], weights["indptr"]),
            shape=tuple(weights["shape"]))
