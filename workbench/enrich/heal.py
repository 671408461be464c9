"""Self-healing item details: missing posters, overviews, years and ratings patched from the
provider, each patched field recorded with its source, the patches saved and reused.

::

    from workbench.enrich.heal import PatchStore, catalog_gaps, heal_items
    store = PatchStore.for_dataset("anime")
    gaps = catalog_gaps(items)                          # item_id, missing (list of fields)
    report = heal_items(items, provider, store)         # fetches, patches, saves

Decisions:

- **Where patches live**: ``data/patches/<dataset>.json`` (:mod:`workbench.data.patches`,
  written atomically), outside the prepared tables, so ``workbench data prepare`` keeps
  them; loading a content engine applies them to its catalog. Each patched field keeps
  ``value``, ``source`` (provider and id) and the date; items the provider could not fill
  are remembered too, so they are not asked again (``--retry`` asks again).
- **Which item**: both catalogs use the provider's ids (TMDB id, MAL id), so an item is looked
  up by id; when the provider does not know the id, by title with the year as the hint.
- Only missing values are filled; a value the catalog has is never overwritten.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from workbench.data.patches import (  # noqa: F401  (re-exported)
    HEALABLE,
    PatchFileError,
    PatchStore,
    is_missing,
)
from workbench.enrich.http import ProviderError
from workbench.enrich.providers import ItemMetadata, Provider

log = logging.getLogger(__name__)

_NOT_FOUND = re.compile(r"not found|nothing found|no title like")


def catalog_gaps(items: pd.DataFrame, fields: tuple[str, ...] = HEALABLE) -> pd.DataFrame:
    """Items with at least one missing healable field: item_id, title, year, missing."""
    rows = []
    for row in items.itertuples(index=False):
        missing = [f for f in fields if is_missing(getattr(row, f))]
        if missing:
            rows.append({"item_id": int(row.item_id), "title": row.title, "year": row.year,
                         "missing": missing})
    return pd.DataFrame(rows, columns=["item_id", "title", "year", "missing"])


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
                     if not is_missing(getattr(meta, name))}
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
