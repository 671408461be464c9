"""The content-aware model: EASE with the items' content vectors as side information, blended
with the similarity of each item to the user's content profile.

The catalogs hold far more items than anyone rated (anime: 16,214, of which 6,406 rated;
movies: 4,803 and 3,535), and a pure collaborative model can only rank an item it saw in
training as "never interacted". Two ways in for the content vectors ``E`` (the content
index's fused, L2-normalised vectors, one row per catalog item):

1. **Side information in the Gram matrix** (Jeunen, Van Balen & Goethals, "Closed-form models
   for collaborative filtering with side-information", RecSys 2020): EASE is fitted on
   ``X`` stacked over ``content_weight * E'``, i.e. on the Gram matrix
   ``X'X + content_weight^2 E E'``, so items similar in content share weights, and an item
   nobody rated still gets weights from its content neighbours. The Woodbury form of
   :mod:`.ease` keeps this cheap: ``A = [X', content_weight * E]`` is items x (users + 416).
2. **Content profile**: each user's score row is scaled by its largest absolute value and
   ``profile_weight * cos(profile_u, e_i) ** profile_power`` is added (sign kept), where
   ``profile_u`` is the normalised mean content vector of the user's items.

``content_weight = profile_weight = 0`` is plain EASE. The vectors are copied into the model
folder, so a rebuilt index does not change a trained model.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeError, CollaborativeModel, ModelParams
from workbench.collaborative.models.ease import LowRankEASE, history_rows, liked_row
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


@register
class EASEContent(CollaborativeModel):
    name = "ease_content"
    summary = "EASE with content vectors as side information + content-profile blend"

    class Params(ModelParams):
        l2: float = Field(200.0, gt=0)
        """The L2 penalty lambda of EASE."""
        content_weight: float = Field(1.0, ge=0)
        """Weight of the content vectors stacked under the interactions (0: plain EASE)."""
        profile_weight: float = Field(0.3, ge=0)
        """Weight of the user's content-profile similarity added to the scaled EASE scores."""
        profile_power: float = Field(1.0, gt=0)
        """Exponent on the profile cosine (sign kept): larger sharpens it to close matches."""

    core: LowRankEASE
    vectors: np.ndarray

    def fit(self, train, validation, context) -> None:
        p = self.params
        self.vectors = content_vectors(context.dataset, self.ids.items, context.settings)
        dense = p.content_weight * self.vectors if p.content_weight > 0 else None
        self.core = LowRankEASE(train.matrix("binary").T, p.l2, dense)

    def _scores(self, x: sparse.csr_matrix) -> np.ndarray:
        p = self.params
        scores = self.core.scores(x)
        if p.profile_weight <= 0:
            return scores
        scale = np.abs(scores).max(axis=1, keepdims=True)
        scores = scores / np.where(scale > 0, scale, 1.0)
        profile = np.asarray(x @ self.vectors, np.float32)
        profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
        cosine = profile @ self.vectors.T
        if p.profile_power != 1.0:
            cosine = np.sign(cosine) * np.abs(cosine) ** p.profile_power
        return (scores + p.profile_weight * cosine).astype(np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self._scores(history_rows(self.seen, users, self.n_items))

    def score_history(self, liked, items) -> np.ndarray:
        return self._scores(liked_row(liked, self.n_items))[0, np.asarray(items, np.int64)]

    def _weights(self) -> dict[str, np.ndarray]:
        arrays = self.core.arrays()
        arrays.pop("a_dense", None)  # = content_weight * vectors, rebuilt on load
        return {**arrays, "vectors": self.vectors}

    def _restore(self, weights) -> None:
        self.vectors = weights["vectors"]
        weight = self.params.content_weight
        dense = {"a_dense": weight * self.vectors} if weight > 0 else {}
        self.core = LowRankEASE.from_saved({**weights, **dense})
