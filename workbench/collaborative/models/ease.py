"""EASE: embarrassingly shallow autoencoder (Steck, WWW 2019), in closed form.

EASE learns an item-item weight matrix ``B`` with a zero diagonal that reconstructs each
user's interaction row, ``min |X - XB|^2 + l2 |B|^2``, solved by ``P = (X'X + l2 I)^-1``,
``B = I - P diag(1 / diag P)``. A user's scores are ``x_u B``.

Computed here through the Woodbury identity: with ``A = X'`` (items x users),
``P = (I - A M A') / l2`` and ``M = (l2 I + A'A)^-1``, a matrix of size users x users. So the
model never forms an items x items matrix: training inverts one ``d x d`` matrix (``d`` =
users here, 574-610) and scoring costs ``O(items * d)`` per user, which is exact EASE and
cheap whenever ``d`` is smaller than the catalog (both catalogs here, by 8x and 28x). When
``d`` is not smaller, the textbook (primal) form is used, an items x items ``B``. A test
checks both against each other. :mod:`.ease_knn_content` can add content columns to ``A``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeModel, ModelParams
from workbench.collaborative.registry import register


class LowRankEASE:
    """EASE over the items of ``A = [A_sparse, A_dense]`` (items x d) in Woodbury form.

    ``A_sparse`` holds interaction columns (kept sparse: small on disk and fast to multiply),
    ``A_dense`` optional real-valued columns (content vectors).
    """

    def __init__(self, a_sparse: sparse.spmatrix, l2: float,
                 a_dense: np.ndarray | None = None) -> None:
        self.a_sparse = sparse.csr_matrix(a_sparse, dtype=np.float32)
        self.a_dense = None if a_dense is None else np.asarray(a_dense, np.float32)
        a = self.a_sparse.toarray().astype(np.float64)
        if self.a_dense is not None:
            a = np.hstack([a, self.a_dense.astype(np.float64)])
        self.l2 = float(l2)
        self.b = None
        if a.shape[1] >= a.shape[0]:  # no smaller than the catalog: the primal form is cheaper
            p = np.linalg.inv(a @ a.T + l2 * np.eye(a.shape[0]))
            self.b = (np.eye(len(p)) - p / np.diag(p)).astype(np.float32)
            self.m = np.zeros((0, 0), np.float32)
            self.diag_p = np.diag(p).astype(np.float32)
            return
        m = np.linalg.inv(l2 * np.eye(a.shape[1]) + a.T @ a)
        self.m = m.astype(np.float32)
        self.diag_p = ((1.0 - np.einsum("ij,ij->i", a @ m, a)) / l2).astype(np.float32)

    @classmethod
    def from_arrays(cls, a_sparse: sparse.csr_matrix, a_dense: np.ndarray | None,
                    m: np.ndarray, diag_p: np.ndarray, l2: float,
                    b: np.ndarray | None = None) -> LowRankEASE:
        self = object.__new__(cls)
        self.a_sparse, self.a_dense, self.m, self.diag_p, self.l2 = (
            a_sparse, a_dense, m, diag_p, float(l2))
        self.b = b
        return self

    def scores(self, x: sparse.spmatrix) -> np.ndarray:
        """``x B`` for sparse rows ``x`` (users x items): ``x - (x P) / diag P``."""
        x = sparse.csr_matrix(x, dtype=np.float32)
        if self.b is not None:
            return np.asarray(x @ self.b, np.float32)
        parts = [np.asarray((x @ self.a_sparse).todense(), np.float32)]
        if self.a_dense is not None:
            parts.append(np.asarray(x @ self.a_dense, np.float32))
        xam = np.hstack(parts) @ self.m
        d1 = self.a_sparse.shape[1]
        xama = np.asarray((self.a_sparse @ xam[:, :d1].T).T, np.float32)
        if self.a_dense is not None:
            xama += xam[:, d1:] @ self.a_dense.T
        dense = np.asarray(x.todense(), np.float32)
        xp = (dense - xama) / self.l2
        return dense - xp / self.diag_p

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save (sparse part as CSR components)."""
        a = self.a_sparse
        out = {"a_data": a.data, "a_indices": a.indices, "a_indptr": a.indptr,
               "a_shape": np.asarray(a.shape, np.int64), "m": self.m, "diag_p": self.diag_p,
               "l2": np.asarray(self.l2)}
        if self.a_dense is not None:
            out["a_dense"] = self.a_dense
        if self.b is not None:
            out["b"] = self.b
        return out

    @classmethod
    def from_saved(cls, w: dict[str, np.ndarray]) -> LowRankEASE:
        """Inverse of :meth:`arrays`."""
        a = sparse.csr_matrix((w["a_data"], w["a_indices"], w["a_indptr"]),
                              shape=tuple(w["a_shape"]))
        return cls.from_arrays(a, w.get("a_dense"), w["m"], w["diag_p"], float(w["l2"]),
                               w.get("b"))


def history_rows(seen: dict[int, np.ndarray], users: np.ndarray, n_items: int
                 ) -> sparse.csr_matrix:
    """Binary rows of the users' known items."""
    rows = [seen.get(int(u), np.empty(0, np.int64)) for u in users]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.concatenate(rows) if rows else np.empty(0, np.int64)
    return sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                             shape=(len(users), n_items))


def liked_row(liked: np.ndarray, n_items: int) -> sparse.csr_matrix:
    """One binary row of ``liked`` item indices."""
    liked = np.unique(np.asarray(liked, np.int64))
    return sparse.csr_matrix((np.ones(len(liked), np.float32), (np.zeros(len(liked), int),
                                                                 liked)), shape=(1, n_items))


@register
class EASE(CollaborativeModel):
    name = "ease"
    summary = "closed-form item-item autoencoder (Steck 2019), L2-regularised"

    class Params(ModelParams):
        l2: float = Field(200.0, gt=0)
        """The L2 penalty lambda on the item-item weights."""
        weighting: Literal["binary", "rating"] = "binary"
        """Interaction values when fitting B: 1 for every rating, or the rating itself (a
        user's history is scored as binary either way)."""

    core: LowRankEASE

    def fit(self, train, validation, context) -> None:
        self.core = LowRankEASE(train.matrix(self.params.weighting).T, self.params.l2)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.core.scores(history_rows(self.seen, users, self.n_items))

    def score_history(self, liked, items) -> np.ndarray:
        return self.core.scores(liked_row(liked, self.n_items))[0, np.asarray(items, np.int64)]

    def _weights(self) -> dict[str, np.ndarray]:
        return self.core.arrays()

    def _restore(self, weights) -> None:
        self.core = LowRankEASE.from_saved(weights)
