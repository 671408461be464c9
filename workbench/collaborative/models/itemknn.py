"""Item-based k-nearest neighbours (Sarwar et al., 2001; Deshpande & Karypis, 2004).

The similarity of two items is the cosine of their user columns with a shrinkage term in the
denominator, ``x_i . x_j / (|x_i| |x_j| + shrinkage)``, which damps similarities supported by
few users. Each item keeps its ``neighbours`` most similar items; a user's score for an item
is the sum of its similarities to the user's training items (each counted once, whatever
the weighting). The similarity matrix is sparse
(``neighbours`` entries per item) and saved as CSR arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeModel, ModelParams
from workbench.collaborative.capacity import Cost, gram_nnz, sparse_bytes
from workbench.collaborative.registry import register

_BLOCK = 2048
DENSE_UP_TO = 50_000
"""Up to this many items similarity rows are computed dense, a block at a time (the
catalogs here); past it, sparse (:func:`cosine_neighbours`)."""
SPARSE_BLOCK = 16_384


def top_neighbours(rows: Callable[[int, int], np.ndarray], n: int, neighbours: int
                   ) -> sparse.csr_matrix:
    """Keep each item's ``neighbours`` largest positive similarities.

    ``rows(start, stop)`` returns the dense similarity rows of items ``start:stop`` against
    all ``n`` items (computed in blocks of 2,048 rows, so no n x n matrix is ever held). The
    result ``S[j, i]`` is how much item ``j`` in a history adds to item ``i``'s score.
    """
    k = min(neighbours, n - 1)
    out_rows, out_cols, out_vals = [], [], []
    for start in range(0, n if k > 0 else 0, _BLOCK):
        sim = np.asarray(rows(start, min(start + _BLOCK, n)), np.float64)
        sim[np.arange(len(sim)), np.arange(start, start + len(sim))] = 0.0
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(sim, top, axis=1)
        keep = (values > 0).ravel()
        out_rows.append(np.repeat(np.arange(start, start + len(sim)), k)[keep])
        out_cols.append(top.ravel()[keep])
        out_vals.append(values.ravel()[keep])
    empty = [np.empty(0, np.int64)]
    return sparse.csr_matrix(
        (np.concatenate(out_vals or [np.empty(0)]).astype(np.float32),
         (np.concatenate(out_cols or empty), np.concatenate(out_rows or empty))), shape=(n, n))


def sparse_top_neighbours(rows: sparse.csr_matrix, start: int, neighbours: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item, neighbour, similarity) of the ``neighbours`` largest positive entries of each
    sparse similarity row (rows are items ``start, start+1, ...``), the diagonal left out;
    vectorised over the block's entries (ties: the lower column first)."""
    rows = rows.tocsr()
    item = np.repeat(np.arange(start, start + rows.shape[0]), np.diff(rows.indptr))
    keep = (rows.data > 0) & (rows.indices != item)
    item, col, value = item[keep], rows.indices[keep], rows.data[keep]
    order = np.lexsort((col, -value, item))
    item, col, value = item[order], col[order], value[order]
    first = np.searchsorted(item, item, side="left")
    top = np.arange(len(item)) - first < neighbours
    return item[top], col[top], value[top]


def cosine_neighbours(x: sparse.spmatrix, neighbours: int, shrinkage: float
                      ) -> sparse.csr_matrix:
    """Item-item cosine of the columns of ``x`` (users x items) with ``shrinkage`` added to
    the denominator, top ``neighbours`` per item (see :func:`top_neighbours`). Past
    :data:`DENSE_UP_TO` items the Gram matrix is computed and pruned one block of items at a
    time, sparse (:func:`sparse_top_neighbours`): memory grows with co-occurring pairs, not
    with ``items^2``."""
    x = sparse.csc_matrix(x, dtype=np.float64)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    n = x.shape[1]
    if n > DENSE_UP_TO:
        xt = x.T.tocsr()
        x = x.tocsr()
        parts = []
        for start in range(0, n, SPARSE_BLOCK):
            block = (xt[start:start + SPARSE_BLOCK] @ x).tocoo()
            block.data /= norms[start + block.row] * norms[block.col] + shrinkage
            parts.append(sparse_top_neighbours(block.tocsr(), start, neighbours))
        item, col, value = (np.concatenate(p) for p in zip(*parts, strict=True))
        return sparse.csr_matrix((value.astype(np.float32), (col, item)), shape=(n, n))
    gram = (x.T @ x).tocsr()

    def rows(start: int, stop: int) -> np.ndarray:
        denom = norms[start:stop, None] * norms[None, :] + shrinkage
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denom > 0, gram[start:stop].toarray() / denom, 0.0)

    return top_neighbours(rows, x.shape[1], neighbours)


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

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """The data, the kept neighbours and either the Gram matrix ``X'X`` with dense
        blocks of similarity rows, or (past :data:`DENSE_UP_TO` items) one sparse block of
        ``X'X`` at a time (its share of the co-occurring pairs, sorted)."""
        kept = 2 * sparse_bytes(params.neighbours * shape.items, shape.items)
        data = 3 * sparse_bytes(shape.interactions, shape.users + shape.items)
        if shape.items > DENSE_UP_TO:
            share = min(1.0, SPARSE_BLOCK / shape.items)
            return Cost(data + kept + 4 * 16.0 * gram_nnz(shape) * share,
                        2e-7 * gram_nnz(shape))
        block = min(_BLOCK, shape.items)
        memory = data + kept + 2 * 16.0 * gram_nnz(shape) + 3 * 8.0 * block * shape.items
        return Cost(memory, 4e-8 * gram_nnz(shape) + 2e-8 * shape.items**2)

    def fit(self, train, validation, context) -> None:
        p = self.params
        self.similarity = cosine_neighbours(train.matrix(p.weighting), p.neighbours,
                                            p.shrinkage)

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
