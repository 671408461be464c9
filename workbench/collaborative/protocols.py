"""The published papers' sampled evaluation protocols, by name, beside our full ranking.

- ``ncf`` (He et al. 2017, "Neural Collaborative Filtering"): every interaction is a
  positive; each user's latest interaction (the ``leave_last_out`` split's test row) is
  ranked against **99** items the user never interacted with (in train or test), drawn
  uniformly without replacement from the items with at least one interaction.
- ``sasrec`` (Kang & McAuley 2018, "Self-Attentive Sequential Recommendation"): each user's
  sequence ordered by time; the last item is the test item, the second-to-last the
  validation item (users with at least 3 interactions); each is ranked against **100**
  never-rated items drawn uniformly with replacement (as the paper's code draws them) from
  the items with at least 5 interactions (the paper's 5-core filter: 3,416 of MovieLens 1M's
  3,706 items). A held-out item below that filter is skipped (``users_evaluated`` says how
  many are left).

The held-out rows are the split's (ties in time broken by the split's seeded random order, so
the same for every model); the negatives are drawn in item-id space with a fixed seed, once
per (dataset, protocol, part, seed), and cached in ``splits/protocols/`` beside the split with
a fingerprint of the data they were drawn from (data prepared again draws them again), so every
model is ranked on the same candidates. :func:`protocol_ranking` scores them with any model's
scoring interface (``ids``, ``n_items``, ``score_users`` or ``score_indices``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow

from workbench import WorkbenchError
from workbench.evaluation import SCORE_BLOCK
from workbench.storage import write_json, write_parquet

PARTS = ("validation", "test")
DRAW_VERSION = 1
"""Recorded with cached candidates: a change to how they are drawn bumps it, so a cache of
the old draw is drawn again."""


@dataclass(frozen=True)
class Protocol:
    """A sampled evaluation protocol: how many negatives, drawn from which items, for which
    users."""

    name: str
    negatives: int
    min_user_interactions: int
    """Users with fewer interactions (train and test together) are not evaluated."""
    min_item_interactions: int
    """Negatives come from the items with at least this many interactions; a held-out item
    with fewer is skipped."""
    replace: bool
    """Negatives drawn with replacement (a user's list may repeat an item)."""
    sequential: bool
    """Defined on each user's interactions in time order (needs timestamps)."""
    paper: str


PROTOCOLS: dict[str, Protocol] = {
    "ncf": Protocol("ncf", 99, 2, 1, False, False,
                    "He et al. 2017, Neural Collaborative Filtering"),
    "sasrec": Protocol("sasrec", 100, 3, 5, True, True,
                       "Kang & McAuley 2018, Self-Attentive Sequential Recommendation"),
}
PROTOCOL_NAMES = ("full", *PROTOCOLS)
"""Every named evaluation protocol: ``full`` ranks the whole catalog
(:func:`workbench.evaluation.full_ranking`), the others are sampled (:func:`protocol_ranking`)."""


def get_protocol(name: str) -> Protocol:
    """The sampled protocol ``name``; an error naming it and the known ones otherwise."""
    if name not in PROTOCOLS:
        raise WorkbenchError(f"unknown sampled protocol {name!r}; known: "
                             f"{', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def applies(protocol: Protocol, has_timestamps: bool) -> bool:
    """Whether ``protocol`` means what its paper means on a dataset: the SASRec protocol
    needs the order of each user's interactions (timestamps); NCF's runs on a random
    leave-one-out too (the split's manifest says which)."""
    return has_timestamps or not protocol.sequential


def _keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    return np.asarray(users, np.int64) * n_items + np.asarray(items, np.int64)


def draw_candidates(interactions: pd.DataFrame, held_out: pd.DataFrame, protocol: Protocol,
                    seed: int) -> pd.DataFrame:
    """For each held-out row (``user_id``, ``item_id``) of an eligible user, the protocol's
    negatives: items the user never interacted with in ``interactions`` (all of them: train,
    validation and test), drawn uniformly with ``seed``. Returns ``user_id``, ``item_id``,
    ``negatives`` (an array of item ids per row), one row per evaluated held-out row (a
    user with fewer never-rated items than the protocol's negatives is left out: on so small
    a catalog the figure would not mean what the paper's means)."""
    counts = interactions["item_id"].value_counts()
    universe = np.sort(counts.index[counts >= protocol.min_item_interactions].to_numpy(
        np.int64))
    n_items, m = len(universe), protocol.negatives
    # each user's rated items of the universe (items outside it are never drawn)
    rated = interactions.loc[interactions["item_id"].isin(universe), ["user_id", "item_id"]
                             ].drop_duplicates()
    unrated = n_items - rated["user_id"].value_counts()
    per_user = interactions["user_id"].value_counts()
    rows = held_out[["user_id", "item_id"]]
    users = rows["user_id"]
    rows = rows[(users.map(per_user).fillna(0) >= protocol.min_user_interactions)
                & users.map(unrated).fillna(n_items).ge(m)
                & rows["item_id"].isin(universe)]
    rows = rows.sort_values(["user_id", "item_id"]).reset_index(drop=True)
    user_ids = np.unique(rows["user_id"].to_numpy(np.int64))  # a user may hold several rows
    rated = rated[rated["user_id"].isin(user_ids)]
    seen = np.sort(_keys(np.searchsorted(user_ids, rated["user_id"].to_numpy(np.int64)),
                         np.searchsorted(universe, rated["item_id"].to_numpy(np.int64)),
                         n_items))
    owners = np.searchsorted(user_ids, rows["user_id"].to_numpy(np.int64))
    picks = _draw(owners, n_items, seen, m, protocol.replace, np.random.default_rng(seed))
    return rows.assign(negatives=list(universe[picks]))


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Which of ``keys`` are in the sorted array ``sorted_keys`` (a binary search each,
    without sorting ``sorted_keys`` again as ``np.isin`` would)."""
    if not len(sorted_keys):
        return np.zeros(keys.shape, bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _draw(owners: np.ndarray, n_items: int, seen: np.ndarray, m: int, replace: bool,
          rng: np.random.Generator) -> np.ndarray:
    """``(len(owners), m)`` positions in ``range(n_items)``, none whose ``owner * n_items +
    item`` key is in ``seen`` (sorted), distinct within a row unless ``replace``: rejection
    sampling, then an exact draw for a row that keeps clashing (a user who rated nearly
    every item; each row has at least ``m`` positions left)."""
    n_rows = len(owners)
    picks = rng.integers(0, max(n_items, 1), size=(n_rows, m))
    todo = np.arange(n_rows)  # rows with a pick still to redraw
    for _ in range(50):
        sub = picks[todo]
        bad = _member(_keys(np.repeat(owners[todo], m).reshape(sub.shape), sub, n_items),
                      seen)
        if not replace:  # a repeat within a row is bad too (all but its first)
            order = np.argsort(sub, axis=1, kind="stable")
            ranked = np.take_along_axis(sub, order, axis=1)
            repeat = np.zeros_like(bad)
            repeat[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
            bad |= np.take_along_axis(repeat, np.argsort(order, axis=1), axis=1)
        still = bad.any(axis=1)
        todo, sub, bad = todo[still], sub[still], bad[still]
        if not len(todo):
            return picks
        sub[bad] = rng.integers(0, n_items, size=int(bad.sum()))
        picks[todo] = sub
    for r in todo:
        o = owners[r]
        mine = seen[(seen >= o * n_items) & (seen < (o + 1) * n_items)] - o * n_items
        picks[r] = rng.choice(np.setdiff1d(np.arange(n_items), mine), size=m,
                              replace=replace)
    return picks


def fingerprint(interactions: pd.DataFrame, held_out: pd.DataFrame) -> str:
    """A short hash of the (user, item) pairs of ``interactions`` and ``held_out``: the data
    a set of candidates was drawn from."""
    parts = [pd.util.hash_pandas_object(frame[["user_id", "item_id"]], index=False)
             .to_numpy().sum(dtype=np.uint64) for frame in (interactions, held_out)]
    return f"{len(interactions)}-{len(held_out)}-{parts[0]:x}-{parts[1]:x}"


def load_candidates(folder: Path, interactions: pd.DataFrame, held_out: pd.DataFrame,
                    protocol: str, part: str, seed: int) -> pd.DataFrame:
    """The candidates of ``protocol`` for the held-out rows of ``part`` (validation or test),
    read from ``folder/protocols/`` when they were drawn from the same data with the same
    seed, else drawn (:func:`draw_candidates`) and written there atomically (where the
    folder is writable; the draw is the same either way)."""
    spec = get_protocol(protocol)
    if part not in PARTS:
        raise WorkbenchError(f"protocol part must be one of {', '.join(PARTS)}, got {part!r}")
    path = folder / "protocols" / f"{protocol}-{part}.parquet"
    record = path.with_suffix(".json")
    key = {"protocol": protocol, "part": part, "seed": seed, "version": DRAW_VERSION,
           "data": fingerprint(interactions, held_out)}
    try:
        if json.loads(record.read_text()) == key:
            table = pd.read_parquet(path)
            return table.assign(negatives=table["negatives"].map(np.asarray))
    except (OSError, ValueError, pyarrow.ArrowException):
        pass  # missing, stale or damaged: draw again
    table = draw_candidates(interactions, held_out, spec, seed)
    try:
        write_parquet(path, table.assign(negatives=table["negatives"].map(list)))
        write_json(record, key)
    except OSError:  # a read-only data folder: the same draw, not kept
        pass
    return table


def protocol_ranking(model, candidates: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """HR@k and NDCG@k of a sampled protocol: each
    held-out item of ``candidates`` (``user_id``, ``item_id``, ``negatives``) ranked among
    its negatives by the model's scoring interface (one pass). With one relevant item,
    NDCG@k = 1 / log2(rank + 1) when rank <= k, else 0 (rank 1 = first). Ties count against
    the held-out item (pessimistic: a constant scorer gets 0), and so does a NaN score; a
    negative the model does not know ranks last. Rows whose user or held-out item the model
    does not know are skipped (``users_skipped``)."""
    users = model.ids.lookup_users(candidates["user_id"])
    items = model.ids.lookup_items(candidates["item_id"])
    known = (users >= 0) & (items >= 0)
    users, items = users[known], items[known]
    negatives = np.stack(candidates.loc[known, "negatives"].to_numpy()) if known.any() \
        else np.empty((0, 1), np.int64)
    neg_index = model.ids.lookup_items(negatives.reshape(-1)).reshape(negatives.shape)
    index = np.concatenate([items[:, None], np.maximum(neg_index, 0)], axis=1)
    scores = _candidate_scores(model, users, index)
    scores[:, 1:][neg_index < 0] = -np.inf
    scores[np.isnan(scores)] = -np.inf
    rank = 1 + (scores[:, 1:] >= scores[:, :1]).sum(1)  # 1 = first
    hit = rank <= k
    return {f"hr_at_{k}": float(hit.mean()) if len(hit) else 0.0,
            f"ndcg_at_{k}": float(np.where(hit, 1 / np.log2(rank + 1), 0).mean())
            if len(hit) else 0.0,
            "users_evaluated": float(len(users)), "users_skipped": float((~known).sum())}


def _candidate_scores(model, users: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Scores of each user's ``index`` row of item indices, by the model's more specialised
    method: ``score_indices`` where the model scores pairs itself (NCF, MF, popularity: a
    hundred pairs per user), else ``score_users`` in blocks of users (EASE: one product)."""
    def owner(name: str) -> type | None:
        return next((c for c in type(model).__mro__ if name in c.__dict__), None)

    pairs, dense = owner("score_indices"), owner("score_users")
    if pairs is not None and (dense is None or issubclass(pairs, dense)):
        return model.score_indices(np.repeat(users, index.shape[1]), index.reshape(-1)
                                   ).reshape(index.shape).astype(np.float64)
    scores = np.empty(index.shape, np.float64)
    unique, inverse = np.unique(users, return_inverse=True)
    step = max(1, min(256, SCORE_BLOCK // max(1, model.n_items)))  # users scored at once
    for start in range(0, len(unique), step):
        block = np.asarray(model.score_users(unique[start:start + step]))
        rows = np.flatnonzero((inverse >= start) & (inverse < start + step))
        scores[rows] = np.take_along_axis(block[inverse[rows] - start], index[rows], axis=1)
    return scores
