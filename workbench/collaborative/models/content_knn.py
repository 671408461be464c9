"""Content kNN: a recommender from content alone.

Each item keeps its ``neighbours`` nearest items by the cosine of the content index's fused
vectors (plot text embedded with all-MiniLM-L6-v2, plus the tabular metadata code); a user's
score for an item is the sum of its similarities to the user's items. No interaction data
shapes the similarities, so an item nobody rated is ranked like any other, and a title's
sequel is usually its nearest plot. On its own it is the zoo's content-only baseline; as a
member of :mod:`.blend` it makes the content-aware model.

``E`` is the content index's vector of each catalog item (zeros for an item it lacks); the
similarity graph is kept in the model folder, so a rebuilt index does not change a trained
model.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from workbench.collaborative.base import CollaborativeError, ModelParams
from workbench.collaborative.models.itemknn import ItemKNN, top_neighbours
from workbench.collaborative.registry import register


def content_vectors(dataset: str, item_ids: np.ndarray, settings=None) -> np.ndarray:
    """The content index's vector of each of ``item_ids`` (zeros for items it lacks)."""
    from workbench.content.index import VectorIndex
    from workbench.settings import get_settings

    settings = settings or get_settings()
    path = settings.index_file(dataset)
    try:
        index = VectorIndex.load(path)
    except Exception as exc:  # any load failure means: build the index first
        raise CollaborativeError(f"the content kNN model needs the content index of "
                                 f"{dataset!r}: {exc}") from None
    out = np.zeros((len(item_ids), index.vectors.shape[1]), np.float32)
    position = {int(i): r for r, i in enumerate(index.item_ids)}
    for n, item in enumerate(np.asarray(item_ids, np.int64)):
        r = position.get(int(item))
        if r is not None:
            out[n] = index.vectors[r]
    return out


@register
class ContentKNN(ItemKNN):
    """Item-kNN's scoring and persistence over a similarity graph built from content."""

    name = "content_knn"
    summary = "items nearest in content (plot + metadata vectors) to the user's items"

    class Params(ModelParams):
        neighbours: int = Field(5, gt=0)
        """Nearest items by content vector each item keeps."""

    def fit(self, train, validation, context) -> None:
        vectors = content_vectors(context.dataset, self.ids.items, context.settings)
        self.similarity = top_neighbours(lambda a, b: vectors[a:b] @ vectors.T, len(vectors),
                                         self.params.neighbours)
