"""The content-aware model: EASE, item-kNN and a content item-kNN, blended.

The catalogs hold far more items than anyone rated (anime: 16,214, of which 6,406 rated;
movies: 4,803 and 3,535). A pure collaborative model ranks an item nobody rated as "never
interacted"; a content neighbour graph does not care. This model scores a user's history
``x`` three ways and adds the parts, each scaled by its largest absolute value per user:

    score = EASE(x) + knn_weight * ItemKNN(x) + content_weight * ContentKNN(x)

- **EASE** (:mod:`.ease`, ``l2``), optionally fitted with the content vectors as side
  information in its Gram matrix, ``X'X + side_weight^2 E E'`` (Jeunen, Van Balen & Goethals,
  RecSys 2020): items alike in content share weights.
- **Item-kNN** (:mod:`.itemknn`, ``neighbours``, ``shrinkage``, ``weighting``): co-occurrence
  neighbours, sharper than EASE on the catalogs' sequels and seasons.
- **Content kNN**: each item's ``content_neighbours`` nearest items by the cosine of the
  content index's fused vectors (plot text + tabular metadata), summed over the history like
  item-kNN. It reaches items nobody rated, and a title's sequel is usually its nearest plot.

``E`` is the content index's vector of each catalog item (zeros for an item it lacks); the
model copies what it needs into its folder, so a rebuilt index does not change a trained
model. ``knn_weight = content_weight = side_weight = 0`` is plain EASE.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeError, CollaborativeModel, ModelParams
from workbench.collaborative.models.ease import LowRankEASE, history_rows, liked_row
from workbench.collaborative.models.itemknn import cosine_neighbours, top_neighbours
from workbench.collaborative.registry import register


def content_vectors(dataset: str, item_ids: np.ndarray, settings=None) -> np.ndarray:
    """The content index's vector of each of ``item_ids`` (zeros for items it lacks)."""
    from workbench.content.engine import content_dir
    from workbench.content.index import VectorIndex
    from workbench.settings import get_settings

    settings = settings or get_settings()
    path = content_dir(dataset, settings) / "index.npz"
    try:
        index = VectorIndex.load(path)
    except Exception as exc:  # any load failure means: build the index first
        raise CollaborativeError(f"the content-aware model needs the content index of "
                                 f"{dataset!r}: {exc}") from None
    out = np.zeros((len(item_ids), index.vectors.shape[1]), np.float32)
    position = {int(i): r for r, i in enumerate(index.item_ids)}
    for n, item in enumerate(np.asarray(item_ids, np.int64)):
        r = position.get(int(item))
        if r is not None:
            out[n] = index.vectors[r]
    return out


def _scaled(scores: np.ndarray) -> np.ndarray:
    scale = np.abs(scores).max(axis=1, keepdims=True)
    return scores / np.where(scale > 0, scale, 1.0)


def _csr_arrays(prefix: str, m: sparse.csr_matrix) -> dict[str, np.ndarray]:
    return {f"{prefix}_data": m.data, f"{prefix}_indices": m.indices,
            f"{prefix}_indptr": m.indptr, f"{prefix}_shape": np.asarray(m.shape, np.int64)}


def _csr(prefix: str, w: dict[str, np.ndarray]) -> sparse.csr_matrix:
    return sparse.csr_matrix((w[f"{prefix}_data"], w[f"{prefix}_indices"],
                              w[f"{prefix}_indptr"]), shape=tuple(w[f"{prefix}_shape"]))


@register
class EASEKNNContent(CollaborativeModel):
    name = "ease_knn_content"
    summary = "content-aware: EASE + item-kNN + content-vector kNN, blended"

    class Params(ModelParams):
        l2: float = Field(200.0, gt=0)
        """The L2 penalty lambda of the EASE part."""
        side_weight: float = Field(0.0, ge=0)
        """Weight of the content vectors stacked under the interactions in EASE's Gram
        matrix (0: plain EASE)."""
        knn_weight: float = Field(0.5, ge=0)
        """Weight of the item-kNN part (each part is scaled to a maximum of 1 per user)."""
        neighbours: int = Field(10, gt=0)
        """Item-kNN: most similar items each item keeps."""
        shrinkage: float = Field(10.0, ge=0)
        """Item-kNN: added to the cosine's denominator."""
        weighting: Literal["binary", "rating"] = "rating"
        """Item-kNN: interaction values, 1 or the rating."""
        content_weight: float = Field(0.3, ge=0)
        """Weight of the content kNN part."""
        content_neighbours: int = Field(5, gt=0)
        """Content kNN: nearest items by content vector each item keeps."""

    core: LowRankEASE
    knn: sparse.csr_matrix
    content: sparse.csr_matrix

    def fit(self, train, validation, context) -> None:
        p = self.params
        vectors = content_vectors(context.dataset, self.ids.items, context.settings)
        side = p.side_weight * vectors if p.side_weight > 0 else None
        self.core = LowRankEASE(train.matrix("binary").T, p.l2, side)
        self.knn = cosine_neighbours(train.matrix(p.weighting), p.neighbours, p.shrinkage)
        self.content = top_neighbours(lambda a, b: vectors[a:b] @ vectors.T, len(vectors),
                                      p.content_neighbours)
        self._vectors = vectors

    def _scores(self, x: sparse.csr_matrix) -> np.ndarray:
        p = self.params
        scores = _scaled(self.core.scores(x))
        if p.knn_weight > 0:
            scores += p.knn_weight * _scaled(np.asarray((x @ self.knn).todense(), np.float32))
        if p.content_weight > 0:
            scores += p.content_weight * _scaled(np.asarray((x @ self.content).todense(),
                                                            np.float32))
        return scores.astype(np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self._scores(history_rows(self.seen, users, self.n_items))

    def score_history(self, liked, items) -> np.ndarray:
        return self._scores(liked_row(liked, self.n_items))[0, np.asarray(items, np.int64)]

    def _weights(self) -> dict[str, np.ndarray]:
        arrays = self.core.arrays()
        if arrays.pop("a_dense", None) is not None:  # side_weight * vectors, rebuilt on load
            arrays["vectors"] = self._vectors
        return {**arrays, **_csr_arrays("knn", self.knn), **_csr_arrays("content",
                                                                         self.content)}

    def _restore(self, weights) -> None:
        side = {"a_dense": self.params.side_weight * weights["vectors"]} \
            if "vectors" in weights else {}
        self._vectors = weights.get("vectors")
        self.core = LowRankEASE.from_saved({**weights, **side})
        self.knn = _csr("knn", weights)
        self.content = _csr("content", weights)
