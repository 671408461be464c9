"""Self-healing's patches: item fields filled from a metadata provider, kept in
``data/patches/<dataset>.json`` (outside the prepared tables, so ``prepare`` keeps them) with
each field's source and date, and applied when a catalog loads.

The data layer owns the file (loading a catalog applies it); :mod:`workbench.enrich.heal`
fetches what goes in it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path

import pandas as pd

from workbench import WorkbenchError
from workbench.data.schema import YEAR_RANGE
from workbench.settings import Settings, get_settings
from workbench.storage import write_json

log = logging.getLogger(__name__)

HEALABLE = ("poster_url", "text", "year", "vote_average")
"""The fields self-healing fills when missing."""


def _valid_patch(name: str, value: object) -> bool:
    """Whether ``value`` may fill field ``name`` (the items schema's types and ranges)."""
    if name == "year":
        return (isinstance(value, int) and not isinstance(value, bool)
                and YEAR_RANGE[0] <= value <= YEAR_RANGE[1])
    if name == "vote_average":
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and 0 <= value <= 10)
    return isinstance(value, str) and bool(value.strip())  # text, poster_url


def is_missing(value: object) -> bool:
    """Whether a catalog value counts as missing (null, NA, blank text; a list never)."""
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
        return cls(settings.patches_file(dataset),
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
        range (a year outside ``YEAR_RANGE``, a vote average outside 0-10) is skipped with one
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
                elif name in items.columns and is_missing(items[name].iat[row]):
                    items.loc[items.index[row], name] = value
        if skipped:
            log.warning("patch file %s: %d malformed entries or values skipped", self.path,
                        skipped)
        return items
