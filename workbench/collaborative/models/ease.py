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
checks both against each other.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeModel, ModelParams
from workbench.collaborative.capacity import Cost
from workbench.collaborative.registry import register


class LowRankEASE:
    """EASE over the items of ``A`` (items x d, sparse interaction columns), in Woodbury form
    when ``d`` is smaller than the catalog, else in the primal form."""

    def __init__(self, a: sparse.spmatrix, l2: float) -> None:
        self.a = sparse.csr_matrix(a, dtype=np.float32)
        dense = self.a.toarray().astype(np.float64)
        self.l2 = float(l2)
        self.b = None
        if dense.shape[1] >= dense.shape[0]:  # d >= items: the primal form is cheaper
            p = np.linalg.inv(dense @ dense.T + l2 * np.eye(dense.shape[0]))
            self.b = (np.eye(len(p)) - p / np.diag(p)).astype(np.float32)
            self.m = np.zeros((0, 0), np.float32)
            self.diag_p = np.diag(p).astype(np.float32)
            return
        m = np.linalg.inv(l2 * np.eye(dense.shape[1]) + dense.T @ dense)
        self.m = m.astype(np.float32)
        self.diag_p = ((1.0 - np.einsum("ij,ij->i", dense @ m, dense)) / l2).astype(np.float32)

    def scores(self, x: sparse.spmatrix) -> np.ndarray:
        """``x B`` for sparse rows ``x`` (users x items): ``x - (x P) / diag P``."""
        x = sparse.csr_matrix(x, dtype=np.float32)
        if self.b is not None:
            return np.asarray(x @ self.b, np.float32)
        xam = np.asarray((x @ self.a).todense(), np.float32) @ self.m
        xama = np.asarray((self.a @ xam.T).T, np.float32)
        dense = np.asarray(x.todense(), np.float32)
        return dense - (dense - xama) / self.l2 / self.diag_p

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save (``A`` as CSR components)."""
        out = {"a_data": self.a.data, "a_indices": self.a.indices, "a_indptr": self.a.indptr,
               "a_shape": np.asarray(self.a.shape, np.int64), "m": self.m,
               "diag_p": self.diag_p, "l2": np.asarray(self.l2)}
        if self.b is not None:
            out["b"] = self.b
        return out

    @classmethod
    def from_saved(cls, w: dict[str, np.ndarray]) -> LowRankEASE:
        """Inverse of :meth:`arrays`."""
        self = object.__new__(cls)
        self.a = sparse.csr_matrix((w["a_data"], w["a_indices"], w["a_indptr"]),
                                   shape=tuple(w["a_shape"]))
        self.m, self.diag_p, self.l2 = w["m"], w["diag_p"], float(w["l2"])
        self.b = w.get("b")
        return self


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
    fallbacks = ("sansa", "ials")

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """A dense float64 ``items x users`` copy of the data and three ``d x d`` float64
        matrices while inverting (``d`` = the smaller of users and items)."""
        d = min(shape.users, shape.items)
        memory = 8.0 * shape.items * shape.users + 3 * 8.0 * d * d
        return Cost(memory, (2.0 * d**3 + 2.0 * shape.items * shape.users * d) / 2e10)

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
