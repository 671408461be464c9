"""The content engine: build the hybrid item vectors and index, answer ``search``/``similar``.

Fusion (``ContentConfig.fusion``): the text vector ``t`` (384-d) and the tabular code ``c``
(``latent_dim``) are each L2-normalised, ``c`` is weighted by ``tabular_weight``, both are
concatenated and renormalised: ``v = [t, w c] / sqrt(1 + w^2)`` (416-d by default). Text-only
is the same code path with no tabular part (``fusion=False``, 384-d).

A free-text query has no metadata. By default (``prf_depth=0``) its tabular part is left
empty, which ranks exactly like the text alone: measured on the team's query sets, estimating
it by pseudo-relevance feedback (the similarity-weighted mean code of the ``prf_depth`` best
text matches) lowered recall@10 (movies 0.625 -> 0.590, anime 0.452 -> 0.415), so it is an
option, not the default. ``similar(item_id)`` uses the item's own fused vector, which is where
fusion pays (genre precision@10 up from 0.765 to 0.821 on movies, 0.792 to 0.856 on anime).

Artifacts per dataset, under ``models/<dataset>/content/``: ``index.npz`` (FAISS index,
vectors, ids, codes, manifest; ``index.json`` is a readable copy of the manifest),
``tabular_preprocessor.skops`` and ``tabular_encoder.keras``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from workbench import WorkbenchError
from workbench.content import tabular
from workbench.content.embeddings import (
    DEFAULT_MODEL,
    EmbeddingCache,
    EmbeddingStats,
    TextEncoder,
    cache_path,
    embed_texts,
    encoder_identity,
    item_texts,
    onnx_dir,
)
from workbench.content.index import INDEX_TYPES, IndexManifest, VectorIndex
from workbench.content.lexical import LexicalIndex, lexical_index
from workbench.content.ranking import RankingConfig, fused_scores, quality_prior, weak_text_mask
from workbench.data import load_items
from workbench.data.fetch import sha256_file
from workbench.errors import check_k
from workbench.ray_connection import check_address
from workbench.settings import Settings, get_settings
from workbench.storage import file_lock


class ContentError(WorkbenchError):
    """Bad input to the content engine (empty query, unknown item, k <= 0)."""


class ContentConfig(BaseModel):
    """Parameters of a content index build (papermill parameters map onto these)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    model: str = DEFAULT_MODEL
    """Embedding model: the packaged all-MiniLM-L6-v2 or a local model folder; with the
    suffix ``+int8``, its int8 ONNX Runtime version (``all-MiniLM-L6-v2+int8``)."""
    fusion: bool = True
    """Fuse the tabular autoencoder code with the text vector."""
    latent_dim: int = Field(32, gt=0)
    """Autoencoder code size."""
    tabular_weight: float = Field(0.5, ge=0)
    """Weight of the (normalised) tabular code against the (normalised) text vector."""
    index_type: str = "auto"
    """FAISS index type: auto (by catalog size: exact up to 50k items, then HNSW, IVF, IVF+SQ8
    past 2M), flat, hnsw, ivf or ivf_sq8 (:mod:`workbench.content.index`)."""
    hnsw_m: int = 32
    hnsw_ef_search: int = 64
    ivf_nlist: int = 0
    """0 picks 4*sqrt(n)."""
    ivf_nprobe: int = 0
    """0: 8 for ivf, 64 for ivf_sq8."""
    prf_depth: int = Field(0, ge=0)
    """Text matches whose codes estimate a free-text query's tabular part (0: none; see the
    module docstring for why none is the default)."""
    max_tokens: int | None = Field(None, ge=8)
    """Word pieces of each item text the encoder reads (None: the model's own
    ``max_seq_length``, 256 for all-MiniLM-L6-v2). Part of the encoder's identity: a window
    of its own has its own embedding cache."""
    batch_size: int = 64
    ae_epochs: int = 60
    top_languages: int = 10
    seed: int = 42

    def model_post_init(self, _context: object) -> None:
        if self.index_type not in INDEX_TYPES:
            raise ContentError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got "
                               f"{self.index_type!r}")


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32)


def fuse(text: np.ndarray, codes: np.ndarray | None, tabular_weight: float) -> np.ndarray:
    """``[t, w c]`` renormalised; just ``t`` normalised when ``codes`` is None."""
    t = _normalise(np.atleast_2d(text))
    if codes is None:
        return t
    c = _normalise(np.atleast_2d(codes)) * np.float32(tabular_weight)
    return _normalise(np.hstack([t, c]))


@dataclass
class BuildReport:
    """What a build did and how long each step took."""

    items: int
    embedding: EmbeddingStats
    seconds: dict[str, float] = field(default_factory=dict)
    autoencoder_history: dict[str, list[float]] = field(default_factory=dict)
    index_bytes: int = 0
    dim: int = 0


def build_content_index(
    config: ContentConfig, settings: Settings | None = None, encoder: TextEncoder | None = None,
    progress: bool = True, save: bool = True,
) -> tuple[ContentEngine, BuildReport]:
    """Embed the catalog (cached; on the Ray cluster at ``settings.ray_address`` when set:
    :mod:`~workbench.content.ray_embedding`), train the tabular branch, build the index.

    ``save=False`` builds in memory only (a comparison variant that must not replace the
    saved index); the embedding cache is still used and updated.
    """
    settings = settings or get_settings()
    started = time.perf_counter()
    out = settings.content_dir(config.dataset)
    items, added = catalog_with_additions(config.dataset, settings)
    encoder = encoder or TextEncoder(config.model, config.batch_size,
                                     onnx_dir=onnx_dir(settings), max_tokens=config.max_tokens)
    wanted = encoder_identity(config.model, config.max_tokens)
    if encoder.identity != wanted:
        raise ContentError(f"the encoder is {encoder.identity!r} but the build config names "
                           f"{wanted!r}; pass a matching encoder or model")
    if settings.ray_address:  # a bad address is one line before anything is written
        check_address(settings.ray_address)
    cache = EmbeddingCache(cache_path(settings.cache_dir, encoder.identity))
    texts = item_texts(items).tolist()
    if settings.ray_address:
        from workbench.content.ray_embedding import embed_on_ray

        text_vectors, stats = embed_on_ray(texts, encoder, cache, settings.ray_address,
                                           progress)
    else:
        text_vectors, stats = embed_texts(texts, encoder, cache, progress)
    seconds = {"embed": stats.seconds}
    history: dict[str, list[float]] = {}
    codes = None
    artifacts: dict[str, str] = {}
    if config.fusion:
        t0 = time.perf_counter()
        preprocessor = tabular.build_preprocessor(config.top_languages)
        features = preprocessor.fit_transform(tabular.tabular_frame(items))
        key = _tabular_key(features, config)
        encoder_model = _reusable_encoder(settings.index_file(config.dataset), key)
        if encoder_model is None:
            trained = tabular.train_autoencoder(features, config.latent_dim,
                                                epochs=config.ae_epochs, seed=config.seed)
            encoder_model, history = trained.encoder, trained.history
            if save:
                tabular.save_preprocessor(preprocessor, out / "tabular_preprocessor.skops")
                tabular.save_encoder(encoder_model, out / "tabular_encoder.keras")
        codes = _normalise(tabular.encode(encoder_model, features))
        if save:
            artifacts = {name: sha256_file(out / name)
                         for name in ("tabular_preprocessor.skops", "tabular_encoder.keras")}
            artifacts["tabular_key"] = key
        seconds["autoencoder"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    manifest = IndexManifest(
        dataset=config.dataset, embedding_model=config.model, encoder=encoder.identity,
        text_dim=text_vectors.shape[1],
        tabular_dim=config.latent_dim if config.fusion else 0, fusion=config.fusion,
        tabular_weight=config.tabular_weight if config.fusion else 0.0,
        index_type=config.index_type, artifacts=artifacts, build_config=config.model_dump(),
    )
    index = VectorIndex.build(
        fuse(text_vectors, codes, config.tabular_weight), items["item_id"].to_numpy(), manifest,
        params=config.model_dump(), codes=codes,
    )
    index.added = added
    seconds["index"] = time.perf_counter() - t0
    engine = ContentEngine(items, index, encoder, config.prf_depth,
                           lexical_path=out / "lexical.npz" if save else None)
    if save:
        t0 = time.perf_counter()
        # under the index's file lock; items added by cold start during the build are
        # embedded into this index before it replaces the old one
        save_index(engine, settings.index_file(config.dataset), rebuilt=True)
        seconds["save"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.lexical  # noqa: B018 - builds and caches the BM25 index with the build
        seconds["lexical"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    return engine, BuildReport(len(items), stats, seconds, history, index.nbytes(),
                               manifest.dim)


def _tabular_key(features: np.ndarray, config: ContentConfig) -> str:
    """Identity of an autoencoder training: its input features and its settings."""
    import hashlib

    settings = f"{config.latent_dim}|{config.ae_epochs}|{config.seed}|{config.top_languages}"
    digest = hashlib.sha256(np.ascontiguousarray(features, np.float64).tobytes())
    digest.update(settings.encode())
    return digest.hexdigest()


def _reusable_encoder(index_file: Path, key: str):
    """The saved tabular encoder beside ``index_file`` when the index says it was trained on
    exactly these features and settings (a warm rebuild then skips training), else None."""
    manifest = VectorIndex.read_manifest(index_file)
    path = index_file.with_name("tabular_encoder.keras")
    if (manifest is None or manifest.artifacts.get("tabular_key") != key or not path.is_file()
            or manifest.artifacts.get(path.name) != sha256_file(path)):
        return None
    return tabular.load_encoder(path)


def with_added_rows(items: pd.DataFrame, added: list[dict]) -> pd.DataFrame:
    """The catalog plus cold-start rows (those whose id the catalog does not hold)."""
    known = set(items["item_id"].tolist())
    rows = [r for r in added if int(r["item_id"]) not in known]
    if not rows:
        return items
    from workbench.data.schema import LIST_COLUMNS, validate_items

    extra = pd.DataFrame(rows).reindex(columns=items.columns)
    for column in LIST_COLUMNS:
        extra[column] = [list(v) if isinstance(v, list) else [] for v in extra[column]]
    scalar = {c: items[c].dtype for c in items.columns if c not in LIST_COLUMNS}
    merged = pd.concat([items, extra.astype(scalar)], ignore_index=True)
    return validate_items(merged, table="catalog + added items")


def catalog_with_additions(dataset: str, settings: Settings) -> tuple[pd.DataFrame, list[dict]]:
    """The prepared catalog plus the items added by cold start to the saved index (they
    survive a rebuild), with self-healing patches applied; and the added rows."""
    from workbench.data.patches import PatchStore

    items = load_items(dataset, settings)
    added = VectorIndex.read_added(settings.index_file(dataset))
    known = set(items["item_id"].tolist())
    added = [r for r in added if int(r["item_id"]) not in known]
    patches = PatchStore.for_dataset(dataset, settings, tolerate_damage=True)
    items = patches.apply(with_added_rows(items, added))
    return items, added


def index_is_current(config: ContentConfig, settings: Settings | None = None) -> bool:
    """True when the saved index was built with ``config`` for the current catalog and loads
    (a damaged file is not current: the pipeline rebuilds it)."""
    from workbench.content.index import catalog_fingerprint

    settings = settings or get_settings()
    path = settings.index_file(config.dataset)
    manifest = VectorIndex.read_manifest(path)
    if manifest is None or manifest.build_config != config.model_dump():
        return False
    if manifest.encoder != encoder_identity(config.model, config.max_tokens):
        return False  # e.g. built by an earlier int8 graph revision
    items, _ = catalog_with_additions(config.dataset, settings)
    if manifest.catalog_fingerprint != catalog_fingerprint(items["item_id"].to_numpy()):
        return False
    try:  # the manifest can be intact in a damaged file: the whole index must load
        VectorIndex.load(path)
    except WorkbenchError:
        return False
    return True


QUERY_CACHE = 256
"""Free-text query vectors an engine remembers (least recently used go first)."""


class ContentEngine:
    """Free-text search and "more like this" over one dataset's content index.

    ``search`` ranks by :mod:`workbench.content.ranking` (dense + BM25 + quality prior, as
    ``ranking`` says); ``similar`` by the item's own vector alone.
    """

    def __init__(self, items: pd.DataFrame, index: VectorIndex, encoder: TextEncoder,
                 prf_depth: int = 0, ranking: RankingConfig | None = None,
                 lexical_path: Path | None = None) -> None:
        self.items = items.set_index("item_id", drop=False)
        self.index = index
        self.encoder = encoder
        self.prf_depth = prf_depth
        self.ranking = ranking or RankingConfig()
        self.lexical_path = lexical_path
        self._signals: tuple[int, LexicalIndex, np.ndarray, np.ndarray] | None = None
        """(generation, BM25 index, prior, weak-text mask) in index row order."""
        self.query_cache = QUERY_CACHE
        """Free-text query vectors remembered (0: none, e.g. to time encoding)."""
        self._query_vectors: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self.lock = threading.RLock()
        """Held while the catalog or index changes (:meth:`add_items`) and while a search
        reads them, so a search never sees an index and a catalog of different sizes."""
        self._generation = 0

    @property
    def manifest(self) -> IndexManifest:
        """The index manifest."""
        return self.index.manifest

    def changed(self) -> None:
        """Forget what is derived from the catalog (BM25 index, prior, weak-text mask, query
        vectors): call after changing ``items`` in place (self-healed details)."""
        with self.lock:
            self._generation += 1
            self._query_vectors.clear()

    def add_items(self, vectors: np.ndarray, item_ids: np.ndarray, codes: np.ndarray | None,
                  items: pd.DataFrame, added: list[dict]) -> None:
        """Add items to the index and the catalog in one step (cold start): ``items`` is the
        whole new catalog, ``added`` the rows kept with the index."""
        with self.lock:
            self.index.add(vectors, item_ids, codes)
            self.index.added.extend(added)
            self.items = items.set_index("item_id", drop=False)
            self.changed()

    def _row_signals(self) -> tuple[LexicalIndex, np.ndarray, np.ndarray]:
        """BM25 index, quality prior and weak-text mask in index row order; rebuilt after a
        change (an item added by cold start is searchable by its words at once). Call with
        ``lock`` held."""
        if self._signals is None or self._signals[0] != self._generation:
            rows = self.items.loc[self.index.item_ids]
            self._signals = (self._generation, lexical_index(rows, self.lexical_path),
                             quality_prior(rows), weak_text_mask(rows))
        return self._signals[1:]

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index over the indexed items (built or loaded on first use)."""
        with self.lock:
            return self._row_signals()[0]

    def query_vector(self, text: str) -> np.ndarray:
        """The index-space vector of a free-text query (see the module docstring).

        The last ``query_cache`` queries are remembered: the dashboard asks for the same
        query's content match and AI pick, and an evaluation for the same query many times.
        """
        if not isinstance(text, str) or not text.strip():
            raise ContentError("empty query: type a few words describing a plot or theme")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes from a shell (surrogate escapes)
            raise ContentError("the query is not valid UTF-8 text: retype it (or set the "
                               "terminal's encoding to UTF-8)") from None
        key = (text.strip(), self.prf_depth)
        if self.query_cache <= 0:
            return self._encode_query(key[0])
        with self.lock:
            cached = self._query_vectors.get(key)
            if cached is not None:
                self._query_vectors.move_to_end(key)
                return cached.copy()
            generation = self._generation
        vector = self._encode_query(key[0])  # outside the lock: the slow part
        with self.lock:
            if generation == self._generation:  # not from before a change
                self._query_vectors[key] = vector
                while len(self._query_vectors) > self.query_cache:
                    self._query_vectors.popitem(last=False)
        return vector.copy()

    def _encode_query(self, text: str) -> np.ndarray:
        t = self.encoder.encode([text])[0]
        m = self.manifest
        if not m.fusion:
            return fuse(t, None, 0.0)[0]
        c = np.zeros(m.tabular_dim, dtype=np.float32)
        if self.prf_depth > 0 and self.index.codes is not None:
            probe = fuse(t, np.zeros((1, m.tabular_dim), np.float32), m.tabular_weight)
            ids, scores = self.index.search(probe, self.prf_depth)
            weights = np.clip(scores[0], 0, None)
            codes = np.stack([self.index.code(i) for i in ids[0]])
            c = (weights[:, None] * codes).sum(0) if weights.sum() > 0 else codes.mean(0)
        return fuse(t, c[None, :], m.tabular_weight)[0]

    def rank(self, text: str, depth: int, ranking: RankingConfig | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``depth`` item ids for a free-text query and their fused scores
        (:mod:`workbench.content.ranking`); ``ranking`` overrides the engine's for one call."""
        ranking = ranking or self.ranking
        vector = self.query_vector(text)
        with self.lock:
            depth = min(int(depth), len(self.index))
            if ranking.dense_only:
                ids, scores = self.index.search(vector, depth)
                return ids[0], scores[0]
            lexical, prior, weak = self._row_signals()
            pool = min(max(ranking.pool, depth), len(self.index))
            dense_ids, _ = self.index.search(vector, pool)
            rows = self.index.rows_of(dense_ids[0][dense_ids[0] >= 0])
            words = lexical.scores(text) if ranking.lexical_weight else np.zeros(0, np.float32)
            best_words = float(words.max()) if len(words) else 0.0
            if best_words > 0:
                top_words = np.argpartition(-words, pool - 1)[:pool]
                rows = np.union1d(rows, top_words[words[top_words] > 0])
            dense = self.index.vectors[rows] @ vector
            scores = fused_scores(dense, words[rows] if best_words > 0 else 0.0, prior[rows],
                                  weak[rows], ranking, best_words)
            order = np.lexsort((rows, -scores))[:depth]
            return self.index.item_ids[rows[order]], scores[order]

    def _results(self, ids: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
        keep = ids >= 0
        ids, scores = ids[keep], scores[keep]
        rows = self.items.loc[ids, ["item_id", "title", "year", "genres"]].reset_index(drop=True)
        rows["score"] = scores.astype(float)
        rows.insert(0, "rank", np.arange(1, len(rows) + 1))
        return rows

    def search(self, text: str, k: int = 10, ranking: RankingConfig | None = None
               ) -> pd.DataFrame:
        """Top-``k`` items for a free-text query: rank, item_id, title, year, genres, score
        (the fused score; ``ranking`` overrides the engine's ranking for this call)."""
        check_k(k, ContentError)
        return self._results(*self.rank(text, k, ranking))

    def similar(self, item_id: int, k: int = 10) -> pd.DataFrame:
        """Top-``k`` items most like ``item_id`` (itself excluded)."""
        check_k(k, ContentError)
        if item_id not in self.index:
            raise ContentError(f"unknown item_id {item_id!r} in dataset "
                               f"{self.manifest.dataset!r}")
        ids, scores = self.index.search(self.index.vector(item_id), k + 1)
        keep = ids[0] != int(item_id)
        return self._results(ids[0][keep][:k], scores[0][keep][:k])


def load_content_engine(
    dataset: str, settings: Settings | None = None, encoder: TextEncoder | None = None,
    prf_depth: int | None = None, ranking: RankingConfig | None = None,
) -> ContentEngine:
    """Load a dataset's saved index, checked against its current catalog and the model;
    free-text search ranks by ``ranking`` (default: :class:`RankingConfig`'s defaults)."""
    settings = settings or get_settings()
    items = load_items(dataset, settings)
    path = settings.index_file(dataset)
    index = VectorIndex.load(path, expected_item_ids=items["item_id"].to_numpy())
    from workbench.data.patches import PatchStore

    patches = PatchStore.for_dataset(dataset, settings, tolerate_damage=True)
    items = patches.apply(with_added_rows(items, index.added))
    encoder = encoder or TextEncoder(index.manifest.embedding_model,
                                     onnx_dir=onnx_dir(settings),
                                     max_tokens=index.manifest.build_config.get("max_tokens"))
    # an index from before encoder identities (``encoder`` empty) is checked by model name:
    # its vectors are within the int8 graph revisions' difference (cosine 0.99); the
    # pipeline rebuilds it (index_is_current)
    built_by = index.manifest.encoder or index.manifest.embedding_model
    used = encoder.identity if index.manifest.encoder else encoder.model_name
    if used != built_by:
        raise ContentError(
            f"content index {path} was built with {built_by!r}, the encoder is {used!r}; "
            f"rebuild the index"
        )
    if prf_depth is None:
        prf_depth = int(index.manifest.build_config.get("prf_depth", 0))
    return ContentEngine(items, index, encoder, prf_depth, ranking,
                         lexical_path=path.with_name("lexical.npz"))


class IndexChangedError(ContentError):
    """The index file was rebuilt since this engine loaded it; saving would undo the rebuild."""


def item_vectors(engine: ContentEngine, frame: pd.DataFrame,
                 folder: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Index vectors (and tabular codes, with fusion) of catalog rows not yet in ``engine``,
    made as the build made them: the engine's encoder, the saved preprocessor and
    autoencoder in ``folder``, the index's fusion weight."""
    manifest = engine.manifest
    text = engine.encoder.encode(item_texts(frame).tolist())
    if not manifest.fusion:
        return fuse(text, None, 0.0), None
    preprocessor = tabular.load_preprocessor(folder / "tabular_preprocessor.skops")
    encoder = tabular.load_encoder(folder / "tabular_encoder.keras")
    codes = tabular.encode(encoder, preprocessor.transform(tabular.tabular_frame(frame)))
    codes = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    return fuse(text, codes, manifest.tabular_weight), codes.astype(np.float32)


def save_index(engine: ContentEngine, path: Path, rebuilt: bool = False) -> None:
    """Write the engine's index atomically under an exclusive file lock, first taking in the
    items another process added to the file since this engine loaded it.

    ``rebuilt``: the engine is a fresh build replacing the file; items added meanwhile are
    embedded into it. Otherwise, a file rebuilt since the engine loaded it is never
    overwritten by the engine's older index: a clear error says to reload.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(path.name + ".lock")):
        on_disk = VectorIndex.read_manifest(path)
        if (not rebuilt and on_disk is not None
                and on_disk.created_at != engine.manifest.created_at):
            raise IndexChangedError(
                f"the {engine.manifest.dataset} index was rebuilt since this engine loaded "
                f"it; reload it (restart the dashboard) and add the item again")
        theirs = [r for r in VectorIndex.read_added(path)
                  if int(r["item_id"]) not in engine.index]
        if theirs and rebuilt:
            frame = with_added_rows(engine.items.reset_index(drop=True), theirs)
            new = frame[frame["item_id"].isin([int(r["item_id"]) for r in theirs])]
            vectors, codes = item_vectors(engine, new, path.parent)
            engine.add_items(vectors, new["item_id"].to_numpy(), codes, frame, theirs)
        elif theirs:
            disk = VectorIndex.load(path)
            ids = np.array([int(r["item_id"]) for r in theirs])
            rows = disk.rows_of(ids)
            codes = disk.codes[rows] if disk.codes is not None else None
            engine.add_items(disk.vectors[rows], ids, codes,
                             with_added_rows(engine.items.reset_index(drop=True), theirs),
                             theirs)
        engine.index.save(path)
