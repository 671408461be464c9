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

Up to :data:`~.itemknn.DENSE_UP_TO` items every pair's cosine is computed (exact); past it
the neighbours come from the content index itself (one batched FAISS search of every item's
vector, HNSW or IVF by catalog size: :mod:`workbench.content.index`), so the cost grows with
items times neighbours, not with ``items^2``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy import sparse

from workbench.collaborative.base import CollaborativeError, ModelParams
from workbench.collaborative.capacity import Cost, sparse_bytes
from workbench.collaborative.models.itemknn import (
    _BLOCK,
    DENSE_UP_TO,
    ItemKNN,
    top_neighbours,
)
from workbench.collaborative.registry import register


def _index(dataset: str, settings=None):
    from workbench.content.index import VectorIndex
    from workbench.settings import get_settings

    settings = settings or get_settings()
    path = settings.index_file(dataset)
    try:
        return VectorIndex.load(path)
    except Exception as exc:  # any load failure means: build the index first
        raise CollaborativeError(f"the content kNN model needs the content index of "
                                 f"{dataset!r}: {exc}") from None


def index_neighbours(dataset: str, item_ids: np.ndarray, neighbours: int, settings=None
                     ) -> sparse.csr_matrix:
    """``S[j, i]``: the similarity of item ``j`` among item ``i``'s ``neighbours`` nearest
    by the content index's own search (positions in ``item_ids``; items the index lacks have
    none)."""
    index = _index(dataset, settings)
    position = np.full(len(index.item_ids), -1, np.int64)
    rows = index.rows_of(item_ids)
    position[rows[rows >= 0]] = np.flatnonzero(rows >= 0)
    parts = []
    for start in range(0, len(index.item_ids), 65_536):
        block = index.vectors[start:start + 65_536]
        scores, found = index.index.search(np.ascontiguousarray(block), neighbours + 1)
        item = np.repeat(position[start:start + len(block)], found.shape[1])
        col = np.where(found.ravel() >= 0, position[np.clip(found.ravel(), 0, None)], -1)
        keep = (item >= 0) & (col >= 0) & (col != item) & (scores.ravel() > 0)
        parts.append((item[keep], col[keep], scores.ravel()[keep]))
    item, col, value = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((col, -value, item))  # keep each item's best ``neighbours``
    item, col, value = item[order], col[order], value[order]
    top = np.arange(len(item)) - np.searchsorted(item, item) < neighbours
    n = len(item_ids)
    return sparse.csr_matrix((value[top].astype(np.float32), (col[top], item[top])),
                             shape=(n, n))


def content_vectors(dataset: str, item_ids: np.ndarray, settings=None) -> np.ndarray:
    """The content index's vector of each of ``item_ids`` (zeros for items it lacks)."""
    index = _index(dataset, settings)
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

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """The index with its vectors (384 floats, about 1.7 KB an item with HNSW links)
        and either dense blocks of similarity rows (every pair's dot product) or, past
        :data:`DENSE_UP_TO` items, the index's search of every item (0.5-5 ms a query
        measured, on two threads: about 40 minutes for a million items on IVF)."""
        found = sparse_bytes(3 * (params.neighbours + 1) * shape.items, shape.items)
        if shape.items > DENSE_UP_TO:
            return Cost(1800.0 * shape.items + 2 * found, 2.4e-3 * shape.items)
        block = min(_BLOCK, shape.items)
        memory = 2 * 4.0 * 384 * shape.items + 3 * 8.0 * block * shape.items + found
        return Cost(memory, 2.0 * 384 * float(shape.items) ** 2 / 3e10)

    def fit(self, train, validation, context) -> None:
        if len(self.ids.items) > DENSE_UP_TO:
            self.similarity = index_neighbours(context.dataset, self.ids.items,
                                               self.params.neighbours, context.settings)
            return
        vectors = content_vectors(context.dataset, self.ids.items, context.settings)
        self.similarity = top_neighbours(lambda a, b: vectors[a:b] @ vectors.T, len(vectors),
                                         self.params.neighbours)
