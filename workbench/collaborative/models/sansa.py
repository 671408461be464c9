"""SANSA: scalable approximate EASE (Spišák et al., RecSys 2023), library ``sansa``.

EASE's weights are ``B = I - P diag(1/diag P)`` with ``P = (X'X + l2 I)^-1``, a dense
``items x items`` matrix; SANSA factorises the sparse ``X'X + l2 I`` (an incomplete,
sparsified LDL' after a fill-reducing ordering) and approximates the inverse of the factor
by a sparse matrix, so the weights are two sparse matrices ``W1 W2`` with about
``weights_per_item`` entries per item each. Memory grows with the number of co-occurring item
pairs, not with ``items^2``: this is the model to use where EASE does not fit
(:mod:`workbench.collaborative.capacity` names it then). ``sansa`` returns ``-P diag(1/diag
P)``, which is EASE's ``B`` minus the identity, so a user's scores are ``x_u W1 W2 + x_u``
(the same as EASE's for every item, seen ones included).

On our small catalogs, whose ``X'X`` is dense (16-29% non-zero), the approximation costs
accuracy (validation NDCG@10 0.041-0.050 against EASE's 0.065 on movies, 0.079-0.092
against 0.127 on anime, measured): use EASE where it fits, SANSA where it does not.

``sansa`` needs ``scikit-sparse`` and its C library SuiteSparse/CHOLMOD (Debian:
``libsuitesparse-dev``); ``make setup`` installs it where the headers are. Without it,
training this model is an error saying so.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeError, CollaborativeModel, ModelParams
from workbench.collaborative.capacity import Cost, gram_nnz, sparse_bytes
from workbench.collaborative.models.ease import history_rows, liked_row
from workbench.collaborative.registry import register

LARGE_FROM = 200_000
"""Catalog size past which ``ordering: auto`` skips COLAMD and ``weights_per_item`` defaults
to 20 instead of 100 (both measured at 100k and 1M items)."""


def plan(params, items: int) -> tuple[str, int]:
    """The ordering and the weights per item a fit on ``items`` items uses (resolving
    ``auto`` and ``None``)."""
    large = items > LARGE_FROM
    ordering = params.ordering if params.ordering != "auto" else (
        "natural" if large else "colamd")
    return ordering, params.weights_per_item or (20 if large else 100)


INSTALL = ("the sansa model needs the `sansa` package with SuiteSparse: `apt-get install "
           "libsuitesparse-dev`, then `make setup`")


def _sansa():
    try:
        import sansa
    except ImportError as exc:
        raise CollaborativeError(f"{INSTALL} ({exc})") from None
    logging.getLogger("sansa").setLevel(logging.WARNING)
    return sansa


@register
class SANSA(CollaborativeModel):
    name = "sansa"
    summary = "sparse approximate EASE (Spisak et al. 2023), library `sansa`: scales past EASE"
    fallbacks = ("ials", "popularity")

    class Params(ModelParams):
        l2: float = Field(20.0, gt=0)
        """The L2 penalty lambda (on ``X'X`` with columns scaled to unit norm)."""
        weights_per_item: int | None = Field(None, gt=0)
        """Target non-zeros per item in each sparse factor of the weights; None: 100 up to
        :data:`LARGE_FROM` items, 20 past it (refining the inverse multiplies two factors,
        about ``items x weights^2`` entries: 37 GB at a million items with 100)."""
        ordering: Literal["auto", "colamd", "natural"] = "auto"
        """The fill-reducing ordering before the factorisation: ``colamd`` (sansa's),
        ``natural`` (none; the incomplete factorisation caps the fill by itself) or ``auto``:
        COLAMD up to :data:`LARGE_FROM` items, none past it (at a million items COLAMD had not
        finished after 10 minutes on 2 cores; with none, the whole fit took 218 s)."""
        factorizer: Literal["icf", "cholmod"] = "icf"
        """``icf``: incomplete Cholesky (less memory, scales); ``cholmod``: exact CHOLMOD
        factorisation then sparsified (more memory, more accurate on dense ``X'X``)."""
        weighting: Literal["binary", "rating"] = "binary"
        """Interaction values: 1 for every rating, or the rating itself."""

    w1: sparse.csr_matrix
    w2: sparse.csr_matrix

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """Calibrated on synthetic catalogs, 2 cores: with COLAMD at 100k items (50k users,
        976k interactions: 158 s, 6.2 GB peak, most of it the ordering and ``X'X``) about 160
        bytes and 4 microseconds per co-occurring item pair; with no ordering at 1M items
        (500k users, 9.3M interactions, 20 weights per item: 218 s, 8.3 GB peak with the
        data) about 16 bytes and 0.6 microseconds."""
        ordering, per_item = plan(params, shape.items)
        weights = min(float(shape.items), per_item) * shape.items
        pair_bytes, pair_seconds = (160.0, 4e-6) if ordering == "colamd" else (16.0, 6e-7)
        memory = (pair_bytes * gram_nnz(shape) + 4 * sparse_bytes(weights, shape.items)
                  + 3 * sparse_bytes(shape.interactions, shape.users))
        return Cost(memory, pair_seconds * gram_nnz(shape) + 2e-6 * weights)

    def fit(self, train, validation, context) -> None:
        sansa = _sansa()
        from sansa.core import (
            CHOLMODGramianFactorizerConfig,
            ICFGramianFactorizerConfig,
            UMRUnitLowerTriangleInverterConfig,
        )

        p = self.params
        ordering, per_item = plan(p, train.n_items)
        factorizer = (ICFGramianFactorizerConfig() if p.factorizer == "icf"
                      else CHOLMODGramianFactorizerConfig())
        if ordering != "colamd":
            # sansa 1.1's ReorderingMethod names only COLAMD; it hands the name to CHOLMOD's
            # analyse, which takes any of its orderings by name
            factorizer.reordering_method = SimpleNamespace(value=ordering)
        config = sansa.SANSAConfig(
            l2=p.l2, weight_matrix_density=min(1.0, per_item / max(1, train.n_items)),
            gramian_factorizer_config=factorizer,
            lower_triangle_inverter_config=UMRUnitLowerTriangleInverterConfig(
                scans=1, finetune_steps=5))
        # fitted on the rated items only (sansa fails on empty columns), then placed back
        # into the catalog: W1 is items x rated, W2 rated x items
        rated = np.unique(train.item)
        place = sparse.csr_matrix((np.ones(len(rated), np.float32), (rated, np.arange(
            len(rated)))), shape=(train.n_items, len(rated)))
        model = sansa.SANSA(config).fit(sparse.csr_matrix(train.matrix(p.weighting)[:, rated]))
        w1, w2 = (sparse.csr_matrix(w, dtype=np.float32) for w in model.weights)
        self.w1, self.w2 = (place @ w1).tocsr(), (w2 @ place.T).tocsr()

    def _scores(self, rows: sparse.csr_matrix) -> np.ndarray:
        # sansa's weights are -P diag(1/diag P), EASE's B minus the identity: add x back
        return np.asarray(((rows @ self.w1) @ self.w2 + rows).todense(), np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self._scores(history_rows(self.seen, users, self.n_items))

    def score_history(self, liked, items) -> np.ndarray:
        return self._scores(liked_row(liked, self.n_items))[0, np.asarray(items, np.int64)]

    def _weights(self) -> dict[str, np.ndarray]:
        out = {}
        for name, w in (("w1", self.w1), ("w2", self.w2)):
            out.update({f"{name}_data": w.data, f"{name}_indices": w.indices,
                        f"{name}_indptr": w.indptr,
                        f"{name}_shape": np.asarray(w.shape, np.int64)})
        return out

    def _restore(self, weights) -> None:
        self.w1, self.w2 = (sparse.csr_matrix(
            (weights[f"{n}_data"], weights[f"{n}_indices"], weights[f"{n}_indptr"]),
            shape=tuple(weights[f"{n}_shape"])) for n in ("w1", "w2"))
