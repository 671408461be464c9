"""The index type follows the catalog size, every type is built by ``faiss.index_factory``,
and an approximate index measures its recall against exact search when it is built."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.content.index import (
    EXACT_UP_TO,
    HNSW_UP_TO,
    IVF_UP_TO,
    ContentIndexError,
    IndexManifest,
    VectorIndex,
    resolve_index_type,
)


def _manifest(index_type: str) -> IndexManifest:
    return IndexManifest(dataset="t", embedding_model="m", text_dim=32, tabular_dim=0,
                         fusion=False, tabular_weight=0.0, index_type=index_type)


def test_auto_follows_the_catalog_size() -> None:
    assert resolve_index_type("auto", 5_000) == "flat"
    assert resolve_index_type("auto", EXACT_UP_TO) == "flat"
    assert resolve_index_type("auto", EXACT_UP_TO + 1) == "hnsw"
    assert resolve_index_type("auto", HNSW_UP_TO + 1) == "ivf"
    assert resolve_index_type("auto", IVF_UP_TO + 1) == "ivf_sq8"
    assert resolve_index_type("ivf", 10) == "ivf"
    with pytest.raises(ContentIndexError, match="unknown index type 'annoy'; choose one of "
                                                "auto, flat"):
        resolve_index_type("annoy", 10)


@pytest.mark.parametrize(("index_type", "factory"), [
    ("flat", "Flat"), ("hnsw", "HNSW32,Flat"), ("ivf", "IVF80,Flat"), ("ivf_sq8", "IVF80,SQ8")])
def test_each_type_is_a_factory_string_and_measures_its_recall(index_type, factory) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32))
    vectors = centres[rng.integers(0, 20, 400)] + 0.3 * rng.normal(size=(400, 32))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.build(vectors.astype(np.float32), np.arange(400) + 1,
                              _manifest(index_type), {"ivf_nprobe": 80})
    manifest = index.manifest
    assert manifest.index_params["factory"] == factory and manifest.index_type == index_type
    assert manifest.recall_at_10 >= 0.9
    if index_type != "flat":
        assert 0 < manifest.search_p50_ms < 50
    ids, _ = index.search(vectors[:1], 3)
    assert ids[0, 0] == 1


def test_a_narrow_search_is_widened_at_build_until_recall_reaches_the_target() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)  # no structure: hard for HNSW
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.build(vectors, np.arange(3000), _manifest("hnsw"),
                              {"hnsw_ef_search": 2})
    params = index.manifest.index_params
    assert params["hnsw_ef_search"] > 2 and index.index.hnsw.efSearch == params["hnsw_ef_search"]
    assert index.manifest.recall_at_10 >= 0.95
