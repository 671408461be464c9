"""Cold start for items: a title not in the catalog is fetched from its provider, embedded,
added to the catalog and the content index, searchable at once, and saved.

::

    from workbench.content import load_content_engine
    from workbench.enrich.coldstart import add_item
    engine = load_content_engine("movies")
    result = add_item(engine, "Oppenheimer", year=2023)     # needs TMDB_API_KEY
    engine.search("atomic bomb physicist")                   # finds it already
    result.saved.result()                                    # the background save, if waited on

Decisions:

- **Where added items live**: in the index file itself (``index.npz`` keeps their catalog rows
  beside their vectors). One atomic write (temp file, fsync, rename) therefore updates both
  together: a crash mid-save leaves the previous file, complete and loadable. Loading merges
  the rows into the engine's catalog, a rebuild keeps them, and ``workbench data prepare``
  (which rewrites the prepared tables) cannot lose them.
- **Concurrency**: adds to one engine are serialised by a lock; the save
  (:func:`workbench.content.engine.save_index`) takes an exclusive file lock
  (``index.npz.lock``) and, holding it, first takes in the items another process added to the
  file meanwhile, so two processes adding at once keep both items.
- **Features**: the text vector from the packaged encoder; with fusion, the tabular code from
  the saved preprocessor and autoencoder (missing values imputed as at build time), fused
  with the index's weight. The IMDB-style weighted rating is left empty (it needs the
  catalog's vote statistics, and the preprocessor imputes it).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench import WorkbenchError
from workbench.content.engine import (
    ContentEngine,
    item_vectors,
    save_index,
    with_added_rows,
)
from workbench.enrich.providers import ItemMetadata, Provider, provider_for
from workbench.settings import Settings, get_settings

_SAVER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-save")
_LOCKS: dict[int, threading.Lock] = {}


class ColdStartError(WorkbenchError):
    """An item could not be added (already there, no match, provider failure)."""


@dataclass
class AddResult:
    """What :func:`add_item` did; ``saved`` completes when the index is on disk."""

    item_id: int
    title: str
    year: int | None
    provider: str
    saved: Future


def metadata_row(meta: ItemMetadata, columns: list[str]) -> dict:
    """A catalog row (the items schema) from provider metadata."""
    row = {c: None for c in columns}
    row.update({k: v for k, v in meta.as_dict().items() if k in row})
    row["item_id"] = int(meta.provider_id)
    for column in ("alt_titles", "genres", "keywords", "companies"):
        row[column] = list(row.get(column) or [])
    row["weighted_rating"] = None
    return row


def add_item(engine: ContentEngine, title: str, year: int | None = None,
             provider: Provider | None = None, settings: Settings | None = None,
             background: bool = True) -> AddResult:
    """Fetch ``title`` (``year`` as the hint), embed it, add it to ``engine`` (searchable at
    once) and save the index: in a background thread by default (``result.saved``)."""
    settings = settings or get_settings()
    dataset = engine.manifest.dataset
    if not isinstance(title, str) or not title.strip():
        raise ColdStartError("empty title: give the title of the item to add")
    titles = engine.items["title"].str.lower()
    same = engine.items[titles == title.strip().lower()]
    if year is not None:
        same = same[same["year"] == year]
    if not same.empty:
        raise ColdStartError(f"{title!r} is already in the {dataset} catalog as item "
                             f"{int(same['item_id'].iloc[0])}")
    provider = provider or provider_for(dataset, settings)
    meta = provider.find(title.strip(), year)
    lock = _LOCKS.setdefault(id(engine), threading.Lock())
    with lock:
        if meta.provider_id in engine.index:
            raise ColdStartError(f"{meta.title!r} ({meta.year}) is already in the {dataset} "
                                 f"catalog as item {meta.provider_id}")
        row = metadata_row(meta, [c for c in engine.items.columns])
        frame = with_added_rows(engine.items.reset_index(drop=True), [row])
        new = frame[frame["item_id"] == meta.provider_id]
        folder = settings.content_dir(dataset)
        vector, code = item_vectors(engine, new, folder)
        engine.add_items(vector, np.array([meta.provider_id]), code, frame, [row])
    path = settings.index_file(dataset)
    if background:
        saved = _SAVER.submit(_locked_save, engine, path, lock)
    else:
        saved = Future()
        _locked_save(engine, path, lock)
        saved.set_result(path)
    return AddResult(meta.provider_id, meta.title, meta.year, provider.name, saved)


def _locked_save(engine: ContentEngine, path: Path, lock: threading.Lock) -> Path:
    with lock:
        save_index(engine, path)
    return path
