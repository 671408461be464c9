"""Lexical retrieval: BM25 over each item's title, alternative titles, plot, genres and
keywords, with `bm25s <https://github.com/xhluca/bm25s>`_ (English stop words, Snowball
stemming by PyStemmer).

Why it is there: the dense encoder sees a plot as a whole and is easily led by one shared
word in a short text; BM25 rewards the rare, specific words a person remembers ("notebook",
"alchemy", "bounty hunters") wherever they occur in a long synopsis, including past the
encoder's 256-token window. :mod:`workbench.content.ranking` fuses both (the measured
contribution of each is in docs/content.md).

Source quirk handled here: a text that starts with a lowercase letter (5,266 anime synopses)
was clipped mid-word at its start by the source; its first partial word ("ches are
individuals..." for "Witches are...") is left out of the lexical text, so the fragment
cannot become a rare, high-weight term.

The index is a cache: ``models/<dataset>/content/lexical.npz`` holds the BM25 score matrix and
vocabulary, keyed by a fingerprint of the exact corpus and settings. A missing, stale or
unreadable file is rebuilt (1-3 s for these catalogs) and rewritten atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import zipfile
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from workbench.storage import atomic_path

log = logging.getLogger(__name__)

BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}
"""bm25s defaults (Lucene's BM25 variant)."""
TOKENS = {"stopwords": "en", "stemmer": "english"}
"""How texts and queries are tokenised (both the same way)."""
_VERSION = 1
"""Bumped when the text recipe or the file layout changes, so old caches are rebuilt."""
_CLIPPED = re.compile(r"^[a-z]\S*\s+")


def lexical_texts(items: pd.DataFrame) -> list[str]:
    """The text BM25 indexes per item: title, alternative titles, plot (without a clipped
    leading fragment), genres and keywords."""
    texts = []
    for row in items[["title", "alt_titles", "text", "genres", "keywords"]].itertuples(
            index=False):
        parts = [str(row.title)]
        parts += [str(t) for t in _as_list(row.alt_titles)]
        if isinstance(row.text, str) and row.text:
            parts.append(_CLIPPED.sub("", row.text, count=1))
        parts += [str(g) for g in _as_list(row.genres)]
        parts += [str(k) for k in _as_list(row.keywords)]
        texts.append(" ".join(parts))
    return texts


def _as_list(value) -> list:
    if value is None or isinstance(value, float):
        return []
    return list(value)


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(TOKENS["stemmer"])


def _bm25s() -> ModuleType:
    """The ``bm25s`` module, its logger at WARNING: it sets itself to DEBUG on import, which
    prints "DEBUG:bm25s:Building index ..." wherever the root logger has a handler."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _fingerprint(texts: list[str]) -> str:
    bm25s = _bm25s()

    digest = hashlib.sha256(json.dumps([_VERSION, bm25s.__version__, version("PyStemmer"),
                                        BM25_PARAMS, TOKENS]).encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


class LexicalIndex:
    """BM25 scores of a free-text query for every item, rows in the order of the texts."""

    def __init__(self, retriever, fingerprint: str) -> None:
        self.retriever = retriever
        self.fingerprint = fingerprint
        self._stem = _stemmer()
        self._stem_lock = threading.Lock()  # a PyStemmer instance is not thread-safe

    def __len__(self) -> int:
        return int(self.retriever.scores["num_docs"])

    @classmethod
    def build(cls, texts: list[str], fingerprint: str | None = None) -> LexicalIndex:
        """Tokenise (stop words out, stemmed) and index ``texts``."""
        bm25s = _bm25s()
        stem = _stemmer()
        tokens = bm25s.tokenize(texts, stopwords=TOKENS["stopwords"], stemmer=stem,
                                show_progress=False)
        retriever = bm25s.BM25(**BM25_PARAMS)
        retriever.index(tokens, show_progress=False)
        return cls(retriever, fingerprint or _fingerprint(texts))

    def tokens(self, query: str) -> list[str]:
        """The query's terms as indexed (lowercased, stop words out, stemmed)."""
        bm25s = _bm25s()
        with self._stem_lock:
            return bm25s.tokenize(query, stopwords=TOKENS["stopwords"], stemmer=self._stem,
                                  return_ids=False, show_progress=False)[0]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for ``query`` (all zeros when no term is known)."""
        ids = self.retriever.get_tokens_ids(self.tokens(query))
        if not ids:
            return np.zeros(len(self), np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), np.float32)

    def save(self, path: Path) -> None:
        """Write the score matrix, vocabulary and fingerprint atomically (one ``.npz``)."""
        s = self.retriever.scores
        meta = {"fingerprint": self.fingerprint, "num_docs": int(s["num_docs"]),
                "vocab": self.retriever.vocab_dict, "params": BM25_PARAMS}
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, data=s["data"], indices=s["indices"], indptr=s["indptr"],
                     meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> LexicalIndex | None:
        """The saved index when it exists, is readable and matches ``fingerprint``."""
        bm25s = _bm25s()
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode())
                if meta.get("fingerprint") != fingerprint:
                    return None
                scores = {"data": npz["data"], "indices": npz["indices"],
                          "indptr": npz["indptr"], "num_docs": int(meta["num_docs"])}
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            return None  # missing, truncated or not ours: rebuilt by the caller
        retriever = bm25s.BM25(**BM25_PARAMS)
        retriever.scores = scores
        retriever.vocab_dict = meta["vocab"]
        retriever.unique_token_ids_set = set(retriever.vocab_dict.values())
        retriever.nonoccurrence_array = None  # Lucene BM25 scores no absent terms
        return cls(retriever, fingerprint)


def lexical_index(items: pd.DataFrame, path: Path | None = None) -> LexicalIndex:
    """The BM25 index of ``items`` (rows in their order): loaded from the cache at ``path``
    when it was built from exactly these texts, else built (and saved there)."""
    texts = lexical_texts(items)
    fingerprint = _fingerprint(texts)
    if path is not None:
        cached = LexicalIndex.load(path, fingerprint)
        if cached is not None:
            return cached
    index = LexicalIndex.build(texts, fingerprint)
    if path is not None:
        try:
            index.save(path)
        except OSError as exc:  # a read-only models folder still searches, just not cached
            log.warning("could not cache the lexical index at %s: %s", path, exc)
    return index
