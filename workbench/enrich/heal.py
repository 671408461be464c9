"""Self-healing item details: missing posters, overviews, years and ratings patched from the
provider, each patched field recorded with its source, the patches saved and reused.

::

    from workbench.enrich.heal import PatchStore, catalog_gaps, heal_items
    store = PatchStore.for_dataset("anime")
    gaps = catalog_gaps(items)                          # item_id, missing (list of fields)
    report = heal_items(items, provider, store)         # fetches, patches, saves

Decisions:

- **Where patches live**: ``data/patches/<dataset>.json`` (written atomically), outside the
  prepared tables, so ``workbench data prepare`` keeps them; loading a content engine applies
  them to its catalog. Each patched field keeps ``value``, ``source`` (provider and id) and the
  date; items the provider could not fill are remembered too, so they are not asked again
  (``--retry`` asks again).
- **Which item**: both catalogs use the provider's ids (TMDB id, MAL id), so an item is looked
  up by id; when the provider does not know the id, by title with the year as the hint.
- Only missing values are filled; a value the catalog has is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from workbench import WorkbenchError
from workbench.enrich.http import ProviderError
from workbench.enrich.providers import ItemMetadata, Provider
from workbench.settings import Settings, get_settings
from workbench.storage import write_json

log = logging.getLogger(__name__)

HEALABLE = ("poster_url", "text", "year", "vote_average")
_NOT_FOUND = re.compile(r"not found|nothing found|no title like")
"""The fields self-healing fills when missing."""


def _valid_patch(name: str, value: object) -> bool:
    """Whether ``value`` may fill field ``name`` (the items schema's types and ranges)."""
    if name == "year":
        return isinstance(value, int) and not isinstance(value, bool) and 1870 <= value <= 2100
    if name == "vote_average":
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and 0 <= value <= 10)
    return isinstance(value, str) and bool(value.strip())  # text, poster_url


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def catalog_gaps(items: pd.DataFrame, fields: tuple[str, ...] = HEALABLE) -> pd.DataFrame:
    """Items with at least one missing healable field: item_id, title, year, missing."""
    rows = []
    for row in items.itertuples(index=False):
        missing = [f for f in fields if _missing(getattr(row, f))]
        if missing:
            rows.append({"item_id": int(row.item_id), "title": row.title, "year": row.year,
                         "missing": missing})
    return pd.DataFrame(rows, columns=["item_id", "title", "year", "missing"])


class PatchFileError(WorkbenchError):
    """The patch file cannot be read as patches (not JSON, or not an object of item ids)."""


class PatchStore:
    """The saved patches of one dataset (a JSON file, written atomically)."""

    def __init__(self, path: Path, *, tolerate_damage: bool = False) -> None:
        """A damaged file (not JSON, not an object) is an error naming it; with
        ``tolerate_damage`` (what loading a catalog uses) it is reported once as a warning and
        no patch applies, so search keeps working. Saving always rereads the file strictly,
        so a damaged file is never overwritten (nothing in it is lost)."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        try:
            self.data: dict[str, dict] = self._read()
        except PatchFileError as exc:
            if not tolerate_damage:
                raise
            log.warning("%s; no patches applied", exc)
            self.data = {}

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise PatchFileError(f"patch file {self.path} is corrupt or not a JSON object of "
                                 f"item ids; move it away to start over") from None
        return data

    @classmethod
    def for_dataset(cls, dataset: str, settings: Settings | None = None, *,
                    tolerate_damage: bool = False) -> PatchStore:
        settings = settings or get_settings()
        return cls(settings.data_dir / "patches" / f"{dataset}.json",
                   tolerate_damage=tolerate_damage)

    def patched(self, item_id: int) -> dict[str, dict]:
        """Field -> {value, source, at} of one item."""
        return self.data.get(str(int(item_id)), {}).get("fields", {})

    def checked(self, item_id: int) -> bool:
        return str(int(item_id)) in self.data

    def record(self, item_id: int, fields: dict[str, object], source: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._lock:
            key = str(int(item_id))
            entry = self.data.setdefault(key, {"fields": {}})
            entry["checked"] = now
            for name, value in fields.items():
                entry["fields"][name] = {"value": value, "source": source, "at": now}
            self._changed.add(key)

    def save(self) -> None:
        """Write the patches atomically, merged under a file lock with what other processes
        saved meanwhile (two heals of one dataset never lose each other's patches; for one
        item, the fields recorded here win)."""
        from workbench.storage import file_lock

        with self._lock, file_lock(self.path.with_name(self.path.name + ".lock")):
            merged = self._read()
            for key in self._changed:
                mine, theirs = self.data[key], merged.get(key, {"fields": {}})
                fields = {**theirs.get("fields", {}), **mine.get("fields", {})}
                checked = max(str(mine.get("checked", "")), str(theirs.get("checked", "")))
                merged[key] = {**theirs, **mine, "fields": fields, "checked": checked}
            write_json(self.path, merged)
            self.data = merged
            self._changed.clear()

    def apply(self, items: pd.DataFrame) -> pd.DataFrame:
        """``items`` with every saved patch filled in (only where the value is missing).

        A hand-edited or foreign patch file is checked entry by entry: a key that is not an
        item id, an entry or fields that are not objects, a value of the wrong type or out of
        range (a year outside 1870-2100, a vote average outside 0-10) is skipped with one
        warning naming the file, never applied and never a crash."""
        if not self.data:
            return items
        items = items.copy()
        position = {int(i): n for n, i in enumerate(items["item_id"])}
        skipped = 0
        for key, entry in self.data.items():
            fields = entry.get("fields") if isinstance(entry, dict) else None
            if not str(key).isdigit() or not isinstance(fields, dict):
                skipped += 1
                continue
            row = position.get(int(key))
            if row is None:
                continue
            for name, patch in fields.items():
                value = patch.get("value") if isinstance(patch, dict) else None
                if name not in HEALABLE or not _valid_patch(name, value):
                    skipped += 1
                elif name in items.columns and _missing(items[name].iat[row]):
                    items.loc[items.index[row], name] = value
        if skipped:
            log.warning("patch file %s: %d malformed entries or values skipped", self.path,
                        skipped)
        return items


@dataclass
class HealReport:
    """What a repair did."""

    items_with_gaps: int = 0
    looked_up: int = 0
    fields_patched: dict[str, int] = field(default_factory=dict)
    still_missing: int = 0
    errors: list[str] = field(default_factory=list)


def _lookup(provider: Provider, item_id: int, title: str, year) -> ItemMetadata:
    try:
        return provider.details(item_id)
    except ProviderError as exc:
        if "not found" not in str(exc):
            raise
        hint = None if year is None or pd.isna(year) else int(year)
        return provider.find(title, hint)


def heal_items(items: pd.DataFrame, provider: Provider, store: PatchStore,
               retry: bool = False, limit: int | None = None,
               progress: bool = True) -> HealReport:
    """Fill the missing healable fields of ``items`` from ``provider``; record and save."""
    gaps = catalog_gaps(store.apply(items))
    report = HealReport(items_with_gaps=len(gaps))
    todo = gaps if retry else gaps[[not store.checked(i) for i in gaps["item_id"]]]
    if limit is not None:
        todo = todo.head(limit)
    try:
        for row in tqdm(list(todo.itertuples(index=False)), desc=f"heal ({provider.name})",
                        unit="item", disable=not progress):
            try:
                meta = _lookup(provider, row.item_id, row.title, row.year)
            except ProviderError as exc:
                if "unreachable" in str(exc) or "API key" in str(exc):
                    raise
                report.errors.append(f"{row.item_id}: {exc}")
                if _NOT_FOUND.search(str(exc)):  # a timeout or a 5xx is asked again later
                    store.record(row.item_id, {}, provider.name)
                continue
            report.looked_up += 1
            found = {name: getattr(meta, name) for name in row.missing
                     if not _missing(getattr(meta, name))}
            store.record(row.item_id, found, f"{provider.name}:{meta.provider_id}")
            for name in found:
                report.fields_patched[name] = report.fields_patched.get(name, 0) + 1
            report.still_missing += len(row.missing) > len(found)
    finally:  # an interrupt or an outage keeps what was found
        store.save()
    return report


def heal_shown(recommender, item_ids, provider: Provider, store: PatchStore) -> int:
    """Heal the given result items of a recommender (those with gaps not asked about yet),
    write the patches into its catalog in place; returns the number of fields patched."""
    ids = [i for i in dict.fromkeys(int(i) for i in item_ids) if not store.checked(i)]
    if not ids:
        return 0
    subset = recommender.items.loc[ids]
    if catalog_gaps(subset).empty:
        return 0
    report = heal_items(subset, provider, store, progress=False)
    if report.fields_patched:
        recommender.update_items(store.apply(subset))
    return sum(report.fields_patched.values())
