"""Content engine on the toy dataset: planted neighbours, cache, atomic save, manifest checks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from workbench import data
from workbench.content import (
    INDEX_TYPES,
    ContentConfig,
    ContentError,
    ContentIndexError,
    TextEncoder,
    VectorIndex,
    build_content_index,
    fuse,
    index_is_current,
    load_content_engine,
)
from workbench.data.toy import PLANTED_PAIR
from workbench.storage import write_parquet


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    """The default (int8) encoder, one per module."""
    return TextEncoder()


@pytest.fixture(scope="module")
def fp32_encoder() -> TextEncoder:
    """The fp32 PyTorch encoder, one model load for the module (about 5-10 s)."""
    from workbench.content.embeddings import FP32_MODEL

    return TextEncoder(FP32_MODEL)


@pytest.fixture
def toy_settings(settings):
    data.prepare("toy", settings)
    return settings


def _config(**kw) -> ContentConfig:
    return ContentConfig(dataset="toy", ae_epochs=5, **kw)


@pytest.mark.parametrize("index_type", INDEX_TYPES)
@pytest.mark.parametrize("fusion", [True, False], ids=["fused", "text-only"])
def test_search_and_similar_find_the_planted_item(toy_settings, encoder, index_type, fusion):
    engine, report = build_content_index(_config(index_type=index_type, fusion=fusion),
                                         toy_settings, encoder, progress=False)
    assert report.dim == (416 if fusion else 384)
    top = engine.search("a physicist travels back in time to stop a murder", k=5)
    assert set(top["item_id"][:2]) == set(PLANTED_PAIR)
    assert list(top.columns) == ["rank", "item_id", "title", "year", "genres", "score"]
    assert top["score"].is_monotonic_decreasing
    similar = engine.similar(PLANTED_PAIR[0], k=3)
    assert similar["item_id"].iloc[0] == PLANTED_PAIR[1]
    assert PLANTED_PAIR[0] not in set(similar["item_id"])


def test_second_build_embeds_nothing_and_a_changed_item_only_itself(toy_settings, encoder):
    _, first = build_content_index(_config(), toy_settings, encoder, progress=False)
    assert first.embedding.embedded == first.items == 50
    _, second = build_content_index(_config(), toy_settings, encoder, progress=False)
    assert second.embedding.embedded == 0
    items = data.load_items("toy", toy_settings)
    items.loc[0, "text"] = "A brand new plot about a lighthouse keeper."
    write_parquet(toy_settings.processed_dir("toy") / "items.parquet", items)
    _, third = build_content_index(_config(), toy_settings, encoder, progress=False)
    assert third.embedding.embedded == 1


def test_saved_index_loads_and_answers_the_same(toy_settings, encoder):
    built, _ = build_content_index(_config(), toy_settings, encoder, progress=False)
    loaded = load_content_engine("toy", toy_settings, encoder)
    query = "haunted crypt with a ghost"
    pd.testing.assert_frame_equal(built.search(query, 5), loaded.search(query, 5))
    assert loaded.manifest.dim == 416 and loaded.manifest.count == 50
    assert index_is_current(_config(), toy_settings)
    assert not index_is_current(_config(tabular_weight=0.9), toy_settings)


@pytest.mark.reliability
def test_interrupted_save_leaves_the_previous_index_loadable(toy_settings, encoder, monkeypatch):
    engine, _ = build_content_index(_config(), toy_settings, encoder, progress=False)
    path = toy_settings.index_file("toy")
    before = path.read_bytes()

    def crash(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt  # the process is interrupted mid-write

    engine.index.add(np.ones((1, 416), np.float32) / np.sqrt(416), np.array([999_999]))
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        engine.index.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert len(VectorIndex.load(path)) == 50
    assert [p.name for p in path.parent.iterdir() if ".tmp-" in p.name] == []


def test_manifest_mismatch_with_catalog_or_model_is_a_clear_error(toy_settings, encoder):
    build_content_index(_config(), toy_settings, encoder, progress=False)
    items = data.load_items("toy", toy_settings)
    write_parquet(toy_settings.processed_dir("toy") / "items.parquet", items.iloc[1:])
    with pytest.raises(ContentIndexError) as err:
        load_content_engine("toy", toy_settings, encoder)
    message = str(err.value)
    assert "does not match the 'toy' catalog" in message
    assert "holds 50 items, the catalog 49" in message
    assert "workbench content build toy" in message
    path = toy_settings.index_file("toy")
    with pytest.raises(ContentIndexError,
                       match=r"built with embedding model 'all-MiniLM-L6-v2\+int8'"):
        VectorIndex.load(path, embedding_model="other-model")


def test_missing_and_corrupt_index(toy_settings, encoder):
    with pytest.raises(ContentIndexError, match="is missing; build it"):
        load_content_engine("toy", toy_settings, encoder)
    path = toy_settings.index_file("toy")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    with pytest.raises(ContentIndexError, match="is corrupt"):
        load_content_engine("toy", toy_settings, encoder)


def test_bad_queries_and_ids(toy_settings, encoder):
    engine, _ = build_content_index(_config(fusion=False), toy_settings, encoder,
                                    progress=False, save=False)
    for query in ("", "   \n"):
        with pytest.raises(ContentError, match="empty query"):
            engine.search(query)
    for k in (0, -3):
        with pytest.raises(ContentError, match="k must be a positive integer"):
            engine.search("ghost", k=k)
    with pytest.raises(ContentError, match="unknown item_id 424242 in dataset 'toy'"):
        engine.similar(424242)
    assert len(engine.search("ghost", k=500)) == 50  # k larger than the catalog


def test_bad_config_values():
    with pytest.raises(ContentError, match="index_type must be one of auto, flat, hnsw, ivf"):
        ContentConfig(dataset="toy", index_type="annoy")
    with pytest.raises(ValueError, match="latent_dim"):
        ContentConfig(dataset="toy", latent_dim=0)
    with pytest.raises(ValueError, match="extra"):
        ContentConfig(dataset="toy", fussion=True)


def test_fuse_normalises_and_weights():
    rng = np.random.default_rng(0)
    text, codes = rng.normal(size=(4, 384)), rng.normal(size=(4, 32))
    fused = fuse(text, codes, 0.5)
    assert fused.shape == (4, 416)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1, rtol=1e-5)
    t = text / np.linalg.norm(text, axis=1, keepdims=True)
    np.testing.assert_allclose(fused[:, :384], t / np.sqrt(1.25), rtol=1e-5)
    np.testing.assert_allclose(fuse(text, None, 0.5), t, rtol=1e-5)


def test_pseudo_relevance_feedback_option(toy_settings, encoder):
    engine, _ = build_content_index(_config(prf_depth=3), toy_settings, encoder, progress=False,
                                    save=False)
    assert engine.prf_depth == 3
    plain = engine.query_vector("ghost in a haunted crypt")
    engine.prf_depth = 0
    text_only = engine.query_vector("ghost in a haunted crypt")
    assert not np.allclose(plain[384:], 0)  # a tabular part was estimated
    np.testing.assert_allclose(text_only[384:], 0)
    engine.prf_depth = 3
    assert set(engine.search("physicist time machine murder paradox", 2)["item_id"]) == set(
        PLANTED_PAIR)


@pytest.mark.parametrize("texts", [
    ["time travel thriller", "a much longer query about a shark in a beach town"],  # eager
    ["ghost"],  # single texts take the frozen TorchScript graph
    ["a considerably longer single query about thieves who plan one last heist in a city"],
    ["x " * 300],  # longer than the model's 256-token window: truncated the same way
])
def test_direct_query_encoding_equals_sentence_transformers(fp32_encoder, texts):
    encoder = fp32_encoder
    direct = encoder.encode(texts)
    reference = encoder.model.encode(texts, normalize_embeddings=True)
    assert encoder._direct is True
    if len(texts) == 1:
        assert encoder._frozen not in (None, False)
    np.testing.assert_allclose(direct, reference, atol=1e-5)


def test_warm_rebuild_reuses_the_autoencoder_until_features_change(toy_settings, encoder):
    _, first = build_content_index(_config(), toy_settings, encoder, progress=False)
    assert first.autoencoder_history  # trained
    engine, second = build_content_index(_config(), toy_settings, encoder, progress=False)
    assert second.autoencoder_history == {}  # reused: same features, same settings
    assert engine.similar(PLANTED_PAIR[0], 1)["item_id"].iloc[0] == PLANTED_PAIR[1]
    _, third = build_content_index(_config(latent_dim=8), toy_settings, encoder, progress=False)
    assert third.autoencoder_history and third.dim == 384 + 8
    items = data.load_items("toy", toy_settings)
    items.loc[0, "runtime"] = 999.0
    write_parquet(toy_settings.processed_dir("toy") / "items.parquet", items)
    _, fourth = build_content_index(_config(latent_dim=8), toy_settings, encoder, progress=False)
    assert fourth.autoencoder_history  # features changed: retrained


def test_single_query_search_restores_faiss_threads(toy_settings, encoder):
    import faiss

    engine, _ = build_content_index(_config(fusion=False), toy_settings, encoder,
                                    progress=False, save=False)
    before = faiss.omp_get_max_threads()
    engine.search("ghost", 3)
    engine.index.search(np.stack([engine.index.vector(PLANTED_PAIR[0])] * 2), 3)
    assert faiss.omp_get_max_threads() == before


def test_int8_encoder_stays_close_to_fp32_and_never_mixes(toy_settings, fp32_encoder,
                                                          tmp_path) -> None:
    """The int8 ONNX encoder (the default): built once and reused, fused (one attention node
    per layer), vectors within cosine 0.99 of fp32 on the toy texts, its own cache keys and
    index manifest name, a damaged graph named."""
    from collections import Counter

    import onnx

    from workbench.content.embeddings import (
        DEFAULT_MODEL,
        FP32_MODEL,
        EmbeddingError,
        item_texts,
        text_key,
    )

    assert DEFAULT_MODEL == "all-MiniLM-L6-v2+int8" == ContentConfig(dataset="x").model
    fp32 = fp32_encoder
    assert fp32.model_name == FP32_MODEL
    texts = item_texts(data.load_items("toy", toy_settings)).tolist()
    int8 = TextEncoder("all-MiniLM-L6-v2+int8", onnx_dir=tmp_path / "onnx")
    vectors = int8.encode(texts)
    graph = tmp_path / "onnx" / "all-MiniLM-L6-v2-int8-fused.onnx"
    ops = Counter(node.op_type for node in onnx.load(str(graph)).graph.node)
    assert ops["QAttention"] + ops["Attention"] == 6 and ops["SkipLayerNormalization"] == 12
    cosine = (vectors * fp32.encode(texts)).sum(axis=1)
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.97
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    again = TextEncoder("all-MiniLM-L6-v2+int8", onnx_dir=tmp_path / "onnx")
    np.testing.assert_allclose(again.encode(texts), vectors, atol=1e-6)  # reused graph
    # activation scales are per batch: another batch gives a vector a hair away, no more
    assert (again.encode(texts[:3]) * vectors[:3]).sum(axis=1).min() > 0.98
    assert text_key(int8.identity, "x") != text_key(fp32.identity, "x")
    engine, _ = build_content_index(_config(model=FP32_MODEL, fusion=False), toy_settings,
                                    encoder=fp32, progress=False)
    assert engine.manifest.embedding_model == FP32_MODEL
    engine, _ = build_content_index(_config(model="all-MiniLM-L6-v2+int8", fusion=False),
                                    toy_settings, encoder=int8, progress=False)
    assert engine.manifest.embedding_model == "all-MiniLM-L6-v2+int8"
    cache = toy_settings.models_dir / "cache"
    assert list((cache / "embeddings-all-MiniLM-L6-v2+int8-fused").glob("shard-*.npz"))
    assert list((cache / "embeddings-all-MiniLM-L6-v2").glob("shard-*.npz"))
    assert engine.search("a physicist travels back in time", 3)["item_id"].tolist()
    with pytest.raises(ContentError, match="encoder is 'all-MiniLM-L6-v2' but the build"):
        build_content_index(_config(fusion=False), toy_settings, encoder=fp32, progress=False)
    (tmp_path / "onnx" / "all-MiniLM-L6-v2-int8-fused.onnx").write_bytes(b"not a graph")
    with pytest.raises(EmbeddingError, match=r"int8 encoder .* is corrupt.*delete it"):
        TextEncoder("all-MiniLM-L6-v2+int8", onnx_dir=tmp_path / "onnx").encode(["x"])


def test_token_batches_pack_similar_lengths_within_the_budget() -> None:
    """Every text once, shortest first, at most ``max_texts`` per batch and at most ``budget``
    word pieces once padded (a text longer than the budget alone)."""
    from workbench.content.embeddings import EmbeddingError, token_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 257, size=500)
    lengths[:3] = [300, 7, 256]
    batches = token_batches(lengths, budget=1024, max_texts=16)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(500))
    assert np.all(np.diff(lengths[flat]) >= 0)
    for batch in batches:
        assert len(batch) <= 16
        assert len(batch) * lengths[batch].max() <= 1024 or len(batch) == 1
    for batch, following in itertools.pairwise(batches):  # each batch is full
        grown = (len(batch) + 1) * lengths[following[0]]
        assert len(batch) == 16 or grown > 1024
    assert [b.tolist() for b in token_batches(np.array([300, 7]), budget=100)] == [[1], [0]]
    exact = token_batches(np.array([10, 256, 30, 256, 12, 256, 256, 256]), budget=1024)
    assert [b.tolist() for b in exact] == [[0, 4, 2, 1], [3, 5, 6, 7]]
    assert token_batches(np.array([], dtype=int)) == []
    with pytest.raises(EmbeddingError, match="batch_size and batch_tokens must be positive"):
        TextEncoder(batch_tokens=0)


def test_int8_padding_does_not_move_a_short_text() -> None:
    """A short text batched with a long one (padded to its length) keeps its vector: the
    mask keeps padding out of attention and of the mean."""
    short = "A lighthouse keeper befriends a stray dog during a winter storm."
    long = " ".join(["A sprawling saga of rival families, wars and betrayals."] * 40)
    encoder = TextEncoder(batch_tokens=1024)  # the session's shared graph
    alone = encoder.encode([short])[0]
    together = encoder.encode([long, short])
    assert len(encoder._fast_tokenizer().encode(long).ids) == 256  # the short one pads to 256
    assert float(alone @ together[1]) > 0.98
    assert float(together[0] @ together[1]) < 0.9  # two different texts, not one mixed vector


def test_int8_queries_need_no_pytorch(tmp_path) -> None:
    """Once the int8 graph exists, encoding loads neither PyTorch nor sentence-transformers
    (a cold CLI answer does not pay for importing them), with the model's own tokenisation."""
    import subprocess
    import sys

    TextEncoder().encode(["build the graph once"])  # the session's shared encoder cache
    code = ("import sys; from workbench.content.embeddings import TextEncoder; "
            "v = TextEncoder().encode(['time travel thriller']); "
            "print(v.shape, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "(1, 384) False False"


@pytest.mark.reliability
def test_a_killed_embedding_resumes_from_the_last_saved_chunk(tmp_path) -> None:
    """The cache is saved after every chunk: a build killed in its third chunk keeps the
    first two, and the next build embeds only the rest."""
    from tests.helpers.fake_encoder import Fake
    from workbench.content.embeddings import EmbeddingCache, embed_texts

    texts = [f"text {i}" for i in range(50)]
    path = tmp_path / "embeddings-fake"
    with pytest.raises(KeyboardInterrupt):
        embed_texts(texts, Fake(fail_on=3), EmbeddingCache(path), chunk=10)
    assert len(EmbeddingCache(path)) == 20
    again = Fake()
    vectors, stats = embed_texts(texts, again, EmbeddingCache(path), chunk=10)
    assert again.seen == 30 and stats.embedded == 30 and vectors.shape == (50, 4)


def test_a_shorter_window_is_an_encoder_of_its_own(toy_settings, encoder) -> None:
    """``max_tokens`` cuts each text at that many word pieces, is part of the encoder's
    identity (its own cache file and keys, the manifest), makes the saved index stale, and
    a loaded engine queries with the window it was built with."""
    from pydantic import ValidationError

    from workbench.content.embeddings import EmbeddingError
    from workbench.content.index import IndexManifest

    head = "A retired detective returns to the city where his partner vanished years ago. "
    texts = [head + "He finds her living under a new name.",
             head + "Aliens land in the harbour and nobody notices."]
    short = TextEncoder(max_tokens=16)
    assert short.identity == "all-MiniLM-L6-v2+int8-fused-16tok" != encoder.identity
    window = short.encode(texts)
    assert float(window[0] @ window[1]) > 0.9999  # the tails are past the window
    full = encoder.encode(texts)
    assert float(full[0] @ full[1]) < 0.99
    with pytest.raises(EmbeddingError, match="max_tokens must be at least 8"):
        TextEncoder(max_tokens=2)
    with pytest.raises(ValidationError, match="max_tokens"):
        _config(max_tokens=2)

    config = _config(fusion=False, max_tokens=16)
    engine, _ = build_content_index(config, toy_settings, progress=False)
    cache = toy_settings.models_dir / "cache"
    assert list((cache / "embeddings-all-MiniLM-L6-v2+int8-fused-16tok").glob("shard-*.npz"))
    assert engine.manifest.encoder == "all-MiniLM-L6-v2+int8-fused-16tok"
    assert index_is_current(config, toy_settings)
    assert not index_is_current(_config(fusion=False), toy_settings)
    loaded = load_content_engine("toy", toy_settings)
    assert loaded.encoder.max_tokens == 16
    with pytest.raises(ContentError, match="built with 'all-MiniLM-L6-v2\\+int8-fused-16tok'"):
        load_content_engine("toy", toy_settings, encoder)
    with pytest.raises(ContentError, match="the encoder is 'all-MiniLM-L6-v2\\+int8-fused'"):
        build_content_index(config, toy_settings, encoder, progress=False, save=False)

    # an index saved before identities were recorded: loads, but the pipeline rebuilds it
    path = toy_settings.index_file("toy")
    index = VectorIndex.load(path)
    old = {**vars(index.manifest), "encoder": ""}
    index.manifest = IndexManifest(**old)
    index.save(path)
    assert not index_is_current(config, toy_settings)
    assert load_content_engine("toy", toy_settings).encoder.max_tokens == 16
