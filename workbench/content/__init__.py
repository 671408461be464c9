"""Content engine: plot embeddings (+ tabular autoencoder codes) in a FAISS index.

::

    from workbench.content import ContentConfig, build_content_index, load_content_engine
    engine, report = build_content_index(ContentConfig(dataset="anime"))
    engine.search("time travel thriller", k=10)     # DataFrame: rank, item_id, title, ..., score
    engine.similar(9253, k=10)                      # more like Steins;Gate
    engine = load_content_engine("anime")           # later: load what the pipeline built
"""

from workbench.content.embeddings import DEFAULT_MODEL, TextEncoder, item_texts
from workbench.content.engine import (
    BuildReport,
    ContentConfig,
    ContentEngine,
    ContentError,
    build_content_index,
    fuse,
    index_is_current,
    load_content_engine,
)
from workbench.content.index import INDEX_TYPES, ContentIndexError, VectorIndex

__all__ = [
    "DEFAULT_MODEL",
    "INDEX_TYPES",
    "BuildReport",
    "ContentConfig",
    "ContentEngine",
    "ContentError",
    "ContentIndexError",
    "TextEncoder",
    "VectorIndex",
    "build_content_index",
    "fuse",
    "index_is_current",
    "item_texts",
    "load_content_engine",
]
