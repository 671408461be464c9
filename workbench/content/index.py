"""A FAISS vector index with its item ids, vectors and a manifest, saved as one file.

``VectorIndex`` keeps FAISS row ``i`` <-> ``item_ids[i]`` (inner product on L2-normalised
vectors, i.e. cosine similarity). Every type is built by ``faiss.index_factory``:

- ``flat`` (``Flat``): exact search, the reference.
- ``hnsw`` (``HNSW{M},Flat``): graph search (``M`` links, ``efSearch`` at query time).
- ``ivf`` (``IVF{nlist},Flat``): inverted lists (``nlist`` cells, ``nprobe`` probed).
- ``ivf_sq8`` (``IVF{nlist},SQ8``): inverted lists over 8-bit scalar-quantised vectors, a
  quarter of the memory (the vectors kept beside the index stay exact).
- ``auto`` (the default): by catalog size, :func:`resolve_index_type`. Exact up to
  :data:`EXACT_UP_TO` items (every catalog shipped here: answers do not change), HNSW up to
  :data:`HNSW_UP_TO`, IVF up to :data:`IVF_UP_TO`, then IVF+SQ8. Measured on 2 cores over
  1M normalised 384-d vectors (synthetic, issue 25):
  exact search 64 ms a query; ``HNSW32,Flat`` built in 210 s (efConstruction 40), recall@10
  0.994 at 0.19 ms (efSearch 64), 1.7 GB; ``IVF4096,Flat`` built in 51 s, 0.961 at 0.40 ms
  (nprobe 16); ``IVF4096,SQ8`` 380 MB, recall 0.978 at 0.71 ms (nprobe 64);
  PQ without a refine step stays near 0.60 recall, so it is not offered.

An approximate index measures itself when it is built: :func:`measure_recall` searches
:data:`RECALL_QUERIES` sampled catalog vectors, compares the top 10 (the query item itself
left out) with exact search, and times single queries; while the recall is under
:data:`RECALL_TARGET` (0.95) the search is widened (efSearch or nprobe doubled, up to 512),
then narrowed back by bisection to about the least breadth that reaches it
(:func:`tune_search`), the fastest search that meets the target. The final
``recall_at_10``, ``search_p50_ms`` and breadth go into the manifest (and MLflow, by the
content task).

:meth:`VectorIndex.save` writes the serialized FAISS index, the vectors, item ids, tabular
codes and the manifest into one ``.npz`` through a temporary file and a rename, so a crash
mid-save leaves the previous index loadable. :meth:`VectorIndex.load` checks the manifest
against what the caller expects (catalog ids, embedding model) and names any mismatch.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workbench import WorkbenchError
from workbench.storage import atomic_path

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf", "ivf_sq8")
EXACT_UP_TO = 50_000
"""``auto``: exact search up to this many items (a query p50 about 10 ms at 50k here)."""
HNSW_UP_TO = 250_000
"""``auto``: HNSW up to this many items (its build grows fastest: 33 s at 100k here, over
10 minutes at 1M with efConstruction 80), then IVF."""
IVF_UP_TO = 2_000_000
"""``auto``: IVF over exact vectors up to this many items (1.5 GB a million at 384-d), then
IVF over 8-bit quantised vectors (a quarter of the memory)."""
RECALL_QUERIES = 1_000
RECALL_TARGET = 0.95
"""An approximate index widens its search at build until its recall@10 reaches this."""
MAX_BREADTH = 512
"""The widest search :func:`tune_search` tries (HNSW efSearch, IVF nprobe)."""
FORMAT_VERSION = 1


class ContentIndexError(WorkbenchError):
    """The content index is missing, corrupt, or does not match the catalog or model."""


def catalog_fingerprint(item_ids: np.ndarray) -> str:
    """sha256 of the sorted item ids (order-independent identity of a catalog)."""
    return hashlib.sha256(np.sort(np.asarray(item_ids, np.int64)).tobytes()).hexdigest()


@dataclass
class IndexManifest:
    """What an index was built from; saved with it and checked on load."""

    dataset: str
    embedding_model: str
    text_dim: int
    tabular_dim: int
    fusion: bool
    tabular_weight: float
    index_type: str
    index_params: dict = field(default_factory=dict)
    count: int = 0
    catalog_fingerprint: str = ""
    artifacts: dict[str, str] = field(default_factory=dict)
    """sha256 of companion files (tabular preprocessor and encoder)."""
    build_config: dict = field(default_factory=dict)
    """The full build configuration (to tell whether a rebuild is needed)."""
    encoder: str = ""
    """The text encoder's identity (``TextEncoder.identity``: model, int8 graph revision,
    window); empty in indexes saved before it was recorded."""
    recall_at_10: float | None = None
    """Recall@10 against exact search on sampled catalog queries (1.0 for exact search;
    None in indexes saved before it was measured)."""
    search_p50_ms: float | None = None
    """Median time of one query, one thread, measured at build."""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    format_version: int = FORMAT_VERSION

    @property
    def dim(self) -> int:
        """Dimension of the stored vectors."""
        return self.text_dim + (self.tabular_dim if self.fusion else 0)


def _faiss():
    import faiss

    return faiss


def resolve_index_type(index_type: str, n: int) -> str:
    """The concrete type of ``index_type`` for ``n`` items (``auto`` by size, see the module
    docstring); an unknown type is an error naming the known ones."""
    if index_type not in INDEX_TYPES:
        raise ContentIndexError(
            f"unknown index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
    if index_type != "auto":
        return index_type
    if n <= EXACT_UP_TO:
        return "flat"
    return "hnsw" if n <= HNSW_UP_TO else "ivf" if n <= IVF_UP_TO else "ivf_sq8"


def _make_index(vectors: np.ndarray, index_type: str, params: dict):
    """An empty (trained) FAISS index of ``index_type`` for ``vectors``, and the parameters
    it used (with its ``index_factory`` string)."""
    faiss = _faiss()
    n, d = vectors.shape
    index_type = resolve_index_type(index_type, n)
    used: dict = {"type": index_type}
    if index_type == "flat":
        factory = "Flat"
    elif index_type == "hnsw":
        used["hnsw_m"] = int(params.get("hnsw_m", 32))
        factory = f"HNSW{used['hnsw_m']},Flat"
    else:
        nlist = int(params.get("ivf_nlist") or 0)
        if not nlist:  # 4 sqrt(n), and about 4,096 cells a million
            nlist = max(1, round(4 * math.sqrt(n)))
        used["ivf_nlist"] = nlist = max(1, min(nlist, n))
        factory = f"IVF{nlist},{'SQ8' if index_type == 'ivf_sq8' else 'Flat'}"
    index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
    if index_type == "hnsw":
        index.hnsw.efConstruction = int(params.get("hnsw_ef_construction", 80))
        index.hnsw.efSearch = int(params.get("hnsw_ef_search", 64))
        used.update(hnsw_ef_construction=index.hnsw.efConstruction,
                    hnsw_ef_search=index.hnsw.efSearch)
    elif index_type != "flat":
        # k-means on a sample: 64 points a cell is plenty (FAISS warns under 39)
        sample = np.random.default_rng(0).choice(n, size=min(n, 64 * nlist), replace=False)
        index.train(vectors[np.sort(sample)])
        default_probe = 8 if index_type == "ivf" else 64
        index.nprobe = min(nlist, int(params.get("ivf_nprobe") or default_probe))
        used["ivf_nprobe"] = index.nprobe
    used["factory"] = factory
    return index, used


def measure_recall(index, vectors: np.ndarray, k: int = 10, queries: int = RECALL_QUERIES,
                   seed: int = 0, exact: np.ndarray | None = None
                   ) -> tuple[float, float, np.ndarray]:
    """(recall@k against exact search, median ms of one single-threaded query, the exact
    neighbours) of ``index`` over its ``vectors``, on ``queries`` sampled rows used as
    queries (each query's own row left out of both result lists). ``exact``: the neighbours
    of an earlier call with the same sample, reused."""
    faiss = _faiss()
    n = len(vectors)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, queries), replace=False))
    q = np.ascontiguousarray(vectors[rows])
    depth = min(k + 1, n)
    if exact is None:
        exact = np.empty((len(rows), depth), np.int64)
        for start in range(0, len(rows), 256):  # exact top k+1 in blocks: bounded memory
            scores = q[start:start + 256] @ vectors.T
            exact[start:start + 256] = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    times = []
    try:
        found = np.empty((len(rows), depth), np.int64)
        for r in range(len(rows)):
            t0 = time.perf_counter()
            found[r] = index.search(q[r:r + 1], depth)[1][0]
            times.append(time.perf_counter() - t0)
    finally:
        faiss.omp_set_num_threads(threads)
    hits = 0
    for r, row in enumerate(rows):
        truth = [i for i in exact[r] if i != row][:k]
        got = [i for i in found[r] if i != row and i >= 0][:k]
        hits += len(set(truth) & set(got))
    return hits / max(1, len(rows) * min(k, n - 1)), 1000 * float(np.median(times)), exact


def tune_search(index, vectors: np.ndarray, used: dict) -> tuple[float, float]:
    """Measure an approximate index's recall@10 (:func:`measure_recall`) and, while it is
    under :data:`RECALL_TARGET`, double its search breadth (HNSW ``efSearch``, IVF
    ``nprobe``) up to :data:`MAX_BREADTH`; ``used`` gets the final value. Returns (recall,
    p50 ms)."""
    key = "hnsw_ef_search" if used["type"] == "hnsw" else "ivf_nprobe"
    limit = MAX_BREADTH if key == "hnsw_ef_search" else min(MAX_BREADTH, used["ivf_nlist"])

    def measure(breadth: int, exact=None) -> tuple[float, float, np.ndarray]:
        if key == "hnsw_ef_search":
            index.hnsw.efSearch = breadth
        else:
            index.nprobe = breadth
        return measure_recall(index, vectors, exact=exact)

    recall, p50, exact = measure(used[key])
    low = used[key]  # the widest breadth known to miss the target
    while recall < RECALL_TARGET and used[key] < limit:
        low, used[key] = used[key], min(limit, 2 * used[key])
        recall, p50, exact = measure(used[key], exact)
    passing = (used[key], recall, p50)
    while recall >= RECALL_TARGET and passing[0] - low > max(1, low // 4):  # narrow back
        middle = (low + passing[0]) // 2
        recall, p50, exact = measure(middle, exact)
        if recall >= RECALL_TARGET:
            passing = (middle, recall, p50)
        else:
            low, recall = middle, passing[1]
    used[key], recall, p50 = passing
    measure(used[key], exact)  # leave the index at the chosen breadth
    return recall, p50


class VectorIndex:
    """FAISS index + vectors + item ids (+ tabular codes) + manifest."""

    def __init__(self, index, vectors: np.ndarray, item_ids: np.ndarray,
                 manifest: IndexManifest, codes: np.ndarray | None = None,
                 added: list[dict] | None = None) -> None:
        self.index = index
        self.vectors = vectors
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.codes = codes
        self.manifest = manifest
        self.added = list(added or [])
        """Catalog rows of items added after the build (cold start), saved in the same file
        as their vectors, so one atomic write keeps them consistent."""
        self._row = {int(i): r for r, i in enumerate(self.item_ids)}

    @classmethod
    def build(cls, vectors: np.ndarray, item_ids: np.ndarray, manifest: IndexManifest,
              params: dict | None = None, codes: np.ndarray | None = None) -> VectorIndex:
        """Build an index of ``manifest.index_type`` over ``vectors`` (rows = ``item_ids``)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) != len(item_ids):
            raise ContentIndexError(f"{len(vectors)} vectors for {len(item_ids)} item ids")
        if len(set(np.asarray(item_ids).tolist())) != len(item_ids):
            raise ContentIndexError("duplicate item ids in the index input")
        index, used = _make_index(vectors, manifest.index_type, params or {})
        index.add(vectors)
        manifest.index_type = used["type"]
        if used["type"] == "flat":
            manifest.recall_at_10 = 1.0
        else:
            manifest.recall_at_10, manifest.search_p50_ms = tune_search(index, vectors, used)
        manifest.index_params = used
        manifest.count = len(item_ids)
        manifest.catalog_fingerprint = catalog_fingerprint(item_ids)
        return cls(index, vectors, item_ids, manifest, codes)

    def __len__(self) -> int:
        return len(self.item_ids)

    def __contains__(self, item_id: object) -> bool:
        return int(item_id) in self._row

    def vector(self, item_id: int) -> np.ndarray:
        """The stored vector of ``item_id``."""
        return self.vectors[self._row[int(item_id)]]

    def rows_of(self, item_ids) -> np.ndarray:
        """Row positions of ``item_ids`` (-1 where not indexed)."""
        return np.fromiter((self._row.get(int(i), -1) for i in np.atleast_1d(item_ids)),
                           np.int64, len(np.atleast_1d(item_ids)))

    def code(self, item_id: int) -> np.ndarray | None:
        """The stored tabular code of ``item_id`` (None without fusion)."""
        return None if self.codes is None else self.codes[self._row[int(item_id)]]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item ids and scores per query row (fewer when the index is smaller).

        A single query runs FAISS on one OpenMP thread: a second thread gains nothing at these
        sizes, and its workers keep spinning after the search, starving the next query's
        encoding (measured on 2 cores: encode+search p50 25 ms -> 13 ms on the anime catalog).
        """
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(int(k), len(self))
        faiss = _faiss()
        threads = faiss.omp_get_max_threads()
        if len(q) == 1:
            faiss.omp_set_num_threads(1)
        try:
            scores, rows = self.index.search(q, k)
        finally:
            faiss.omp_set_num_threads(threads)
        valid = rows >= 0
        ids = np.where(valid, self.item_ids[np.clip(rows, 0, None)], -1)
        return ids, np.where(valid, scores, -np.inf)

    def add(self, vectors: np.ndarray, item_ids: np.ndarray,
            codes: np.ndarray | None = None) -> None:
        """Append items (their ids must be new)."""
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        clash = [int(i) for i in item_ids if int(i) in self._row]
        if clash:
            raise ContentIndexError(f"item ids already in the index: {clash[:5]}")
        self.index.add(vectors)
        start = len(self.item_ids)
        self.vectors = np.vstack([self.vectors, vectors])
        self.item_ids = np.concatenate([self.item_ids, np.asarray(item_ids, np.int64)])
        if self.codes is not None and codes is not None:
            self.codes = np.vstack([self.codes, np.atleast_2d(codes).astype(np.float32)])
        self._row.update({int(i): start + r for r, i in enumerate(item_ids)})
        self.manifest.count = len(self.item_ids)
        self.manifest.catalog_fingerprint = catalog_fingerprint(self.item_ids)

    def nbytes(self) -> int:
        """Size of the serialized FAISS index in bytes."""
        return int(_faiss().serialize_index(self.index).nbytes)

    def save(self, path: Path) -> None:
        """Write everything to ``path`` (one ``.npz``) atomically; a ``.json`` copy of the
        manifest is written beside it for people to read."""
        arrays = {
            "faiss": _faiss().serialize_index(self.index),
            "vectors": self.vectors,
            "item_ids": self.item_ids,
            "manifest": np.frombuffer(json.dumps(asdict(self.manifest)).encode(), np.uint8),
        }
        if self.codes is not None:
            arrays["codes"] = self.codes
        if self.added:
            arrays["added"] = np.frombuffer(json.dumps(self.added, default=str).encode(),
                                            np.uint8)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        with atomic_path(path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(asdict(self.manifest), indent=2) + "\n")

    @staticmethod
    def read_manifest(path: Path) -> IndexManifest | None:
        """The manifest of a saved index, or None when it is missing or unreadable."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                return IndexManifest(**json.loads(npz["manifest"].tobytes().decode()))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
            return None

    @staticmethod
    def read_added(path: Path) -> list[dict]:
        """The cold-start rows saved in an index file ([] when none or unreadable)."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "added" not in npz.files:
                    return []
                return json.loads(npz["added"].tobytes().decode())
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
            return []

    @classmethod
    def load(cls, path: Path, expected_item_ids: np.ndarray | None = None,
             embedding_model: str | None = None) -> VectorIndex:
        """Load an index saved by :meth:`save`, checking it against the catalog and model."""
        if not path.is_file():
            raise ContentIndexError(f"content index {path} is missing; build it with "
                              f"`workbench content build <dataset>` (or `make pipeline`)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                manifest = IndexManifest(**json.loads(npz["manifest"].tobytes().decode()))
                index = _faiss().deserialize_index(npz["faiss"])
                vectors, item_ids = npz["vectors"], npz["item_ids"]
                codes = npz["codes"] if "codes" in npz.files else None
                added = (json.loads(npz["added"].tobytes().decode())
                         if "added" in npz.files else [])
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError,
                zipfile.BadZipFile) as exc:
            raise ContentIndexError(
                f"content index {path} is corrupt ({exc}); rebuild it"
            ) from None
        loaded = cls(index, vectors, item_ids, manifest, codes, added)
        if embedding_model is not None and manifest.embedding_model != embedding_model:
            raise ContentIndexError(
                f"content index {path} was built with embedding model "
                f"{manifest.embedding_model!r}, but {embedding_model!r} is configured; rebuild it"
            )
        if expected_item_ids is not None:
            expected = np.asarray(expected_item_ids, np.int64)
            known = set(expected.tolist())  # an added item the catalog now holds counts once
            extra = np.asarray([int(r["item_id"]) for r in added
                                if int(r["item_id"]) not in known], np.int64)
            _check_catalog(path, manifest, item_ids, np.concatenate([expected, extra]))
        return loaded


def _check_catalog(path: Path, manifest: IndexManifest, indexed: np.ndarray,
                   catalog: np.ndarray) -> None:
    if catalog_fingerprint(catalog) == manifest.catalog_fingerprint == catalog_fingerprint(
            indexed):
        return
    indexed_set, catalog_set = set(indexed.tolist()), set(np.asarray(catalog).tolist())
    missing = sorted(catalog_set - indexed_set)
    extra = sorted(indexed_set - catalog_set)
    raise ContentIndexError(
        f"content index {path} does not match the {manifest.dataset!r} catalog: it holds "
        f"{len(indexed_set):,} items, the catalog {len(catalog_set):,} ({len(missing):,} catalog "
        f"items not indexed, e.g. {missing[:3]}; {len(extra):,} indexed items not in the "
        f"catalog, e.g. {extra[:3]}). Rebuild it with `workbench content build "
        f"{manifest.dataset}`."
    )
