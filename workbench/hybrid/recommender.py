"""The hybrid :class:`Recommender`: content match vs AI pick, the personalised feed, franchise
filtering and new users, over one dataset's content index and collaborative model.

::

    from workbench.hybrid import Recommender
    rec = Recommender.load("anime")                       # what `make pipeline` produced
    rec.content_match(query="time travel thriller")        # left box: the content match
    rec.ai_pick(query="time travel thriller", user_id=42)  # right box: re-ranked for user 42
    rec.ai_pick(item_id=9253, liked=[1535, 5114])          # a new user, by liked items
    rec.personalized_feed(user_id=42)                      # "For you"

How an AI pick is made (:meth:`Recommender.ai_pick`):

1. **Candidates**: the ``candidates`` (default 100) best content matches of the query or seed
   item, excluding the seed item and, for a user, the items they already rated (or liked).
   A free-text query's matches and their ``similarity`` are the content engine's search
   ranking (dense + BM25 + quality prior, :mod:`workbench.content.ranking`), so the left box
   is exactly ``content.search``; a seed item's are plot similarity to its vector alone.
2. **Preference**: the collaborative model's score of each candidate for the user: a
   predicted rating (explicit models), a preference score in [0, 1] (implicit models) or the
   training popularity (popularity model). New users get the neighbour fold-in
   (:mod:`workbench.hybrid.users`); items the model never saw score as the lowest candidate.
3. **Fusion**: ``alpha * similarity + (1 - alpha) * preference``, both min-max normalised over
   this request's candidates (``strategy="blend"``), or a weighted reciprocal-rank fusion
   (``strategy="rrf"``). ``alpha=1`` is the content order, ``alpha=0`` the model's order.
4. **Franchise filter**: at most ``max_per_franchise`` items per franchise (``0`` switches it
   off), optionally none from the seed item's franchise; how many were hidden is reported.
5. **Diversity** (optional): maximal marginal relevance over the content vectors
   (``mmr_lambda`` < 1 trades relevance for diversity).

Every result row carries its components (``similarity``, ``preference``, ``score``) and a
``reason`` a person can read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import ValidationError

from workbench import WorkbenchError
from workbench.collaborative.champion import ALIAS
from workbench.content.engine import ContentEngine, ContentError, load_content_engine
from workbench.content.ranking import weak_text_mask
from workbench.errors import check_k, describe_errors, is_int
from workbench.hybrid import explain, rerank
from workbench.hybrid.config import HybridConfig
from workbench.hybrid.franchise import franchise_table
from workbench.hybrid.users import FoldIn, NewUser
from workbench.settings import Settings, get_settings

DEFAULT_MODEL = ALIAS
"""The collaborative model the hybrid uses unless told otherwise: the champion `make pipeline`
chose on validation NDCG@10 (``models/<dataset>/collaborative/champion``, else the MLflow
registry's ``champion`` alias)."""
TRENDING = ("blend", "popularity", "recent", "rating")
RESULT_COLUMNS = ["rank", "item_id", "title", "year", "genres", "franchise", "similarity",
                  "preference", "score", "reason", "cosine", "preference_percentile"]
"""``similarity``: what the content order used (a query's fused search score); ``cosine`` and
``preference_percentile``: the numbers a person reads (:mod:`workbench.hybrid.explain`)."""


class RecommenderError(WorkbenchError):
    """Bad input to the hybrid recommender (no query, unknown user or item, bad option)."""


@dataclass
class Candidates:
    """A request's candidate items with their components, before ranking."""

    item_ids: np.ndarray
    similarity: np.ndarray
    preference: np.ndarray
    has_preference: np.ndarray
    seed_franchise: str | None = None
    user_label: str | None = None
    note: str = ""
    about: str = ""
    """What the candidates are similar to (the quoted query or seed title)."""
    cosine: np.ndarray | None = None
    """Cosine of each candidate to the query or seed (NaN: none, e.g. the feed)."""
    catalog: Callable[[], np.ndarray] | None = None
    """The user's scores of the catalog items they have not rated, for :meth:`percentile`
    (called only when a list is shown, not for an evaluation's candidates)."""

    def percentile(self, values: np.ndarray | None = None) -> np.ndarray:
        """Each preference's (or ``values``') percentile among :attr:`catalog`."""
        pref = self.preference if values is None else values
        if self.catalog is None:
            return np.full(len(pref), np.nan)
        return explain.percentiles(pref, self.catalog())


@dataclass
class Recommendations:
    """A ranked list (``frame``) and what happened on the way."""

    kind: str
    frame: pd.DataFrame
    filtered_by_franchise: int = 0
    candidates: int = 0
    note: str = ""
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def item_ids(self) -> list[int]:
        return self.frame["item_id"].astype(int).tolist()

    def summary(self) -> str:
        """One line: how many results, from how many candidates, how many hidden."""
        parts = [f"{self.kind}: {len(self)} results from {self.candidates} candidates"]
        if self.filtered_by_franchise:
            parts.append(f"{self.filtered_by_franchise} hidden by the franchise filter")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def _repr_html_(self) -> str:
        return f"<p>{self.summary()}</p>" + self.frame.to_html(index=False)

    def __repr__(self) -> str:
        return f"{self.summary()}\n{self.frame.to_string(index=False)}"


class Recommender:
    """Content match, AI pick and the personalised feed for one dataset."""

    def __init__(self, content: ContentEngine, collaborative=None,
                 config: HybridConfig | None = None, model_label: str = "") -> None:
        self.content = content
        self.collaborative = collaborative
        self.config = config or HybridConfig()
        self.model_label = model_label
        self.dataset = content.manifest.dataset
        self.items = content.items
        self.franchises = franchise_table(self.items.reset_index(drop=True)).set_index("item_id")
        self._franchise_of = self.franchises["franchise"].to_dict()
        # Plain arrays for building result rows: pandas .loc on a list costs ~2 ms a call.
        self._row_of = {int(i): r for r, i in enumerate(self.items["item_id"])}
        self._columns = {name: self.items[name].to_numpy(dtype=object)
                         for name in ("title", "year", "genres")}
        self._columns["franchise"] = self.franchises.loc[self.items["item_id"],
                                                         "franchise_name"].to_numpy(object)
        self._has_plot = ~weak_text_mask(self.items)
        """Per catalog row: whether the item has a plot text (its similarity is named so)."""
        self._fold_in = None
        self._trending: dict[str, pd.Series] = {}
        self._ratings: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        """(user ids sorted, their item ids, ratings) for :meth:`user_history`."""
        self.settings: Settings | None = None
        """Where :meth:`user_history` reads ratings (set by :meth:`load`)."""

    def update_items(self, rows: pd.DataFrame) -> None:
        """Write changed catalog rows (same ids, e.g. self-healed details) into the catalog."""
        for column in rows.columns:
            if column != "item_id" and column in self.items.columns:
                self.items.loc[rows["item_id"].to_numpy(), column] = rows[column].to_numpy()
        for name in ("title", "year", "genres"):
            self._columns[name] = self.items[name].to_numpy(dtype=object)
        self._has_plot = ~weak_text_mask(self.items)
        self.content.changed()  # BM25 and the weak-text mask see the healed texts

    def franchise_of(self, item_id: int) -> str:
        """The franchise key of ``item_id`` (the item's own key when it has none)."""
        return self._franchise_of.get(int(item_id), f"item:{int(item_id)}")

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, dataset: str, settings: Settings | None = None,
             collaborative: str | None = DEFAULT_MODEL, config: HybridConfig | None = None,
             encoder=None) -> Recommender:
        """Load the dataset's content index and a collaborative model.

        ``collaborative``: ``"champion"`` (the default: the local copy of the champion that
        training left in ``models/<dataset>/collaborative/champion``, else the MLflow
        registry's champion of ``<dataset>-collaborative``), a model folder name under
        ``models/<dataset>/collaborative/`` (``ease-implicit``, ``mf-explicit``...), a path to
        a saved model folder, or None for content only (AI pick and the feed then raise a
        clear error).
        """
        from workbench.collaborative import CollaborativeError, CollaborativeModel
        from workbench.collaborative.champion import load_champion

        settings = settings or get_settings()
        try:
            content = load_content_engine(dataset, settings, encoder=encoder)
        except WorkbenchError as exc:
            raise RecommenderError(f"{exc} (or run `make pipeline`)") from None
        model, label = None, ""
        if collaborative == ALIAS:
            try:
                model, label = load_champion(dataset, settings)
            except CollaborativeError as exc:
                raise RecommenderError(str(exc)) from None
        elif collaborative:
            folder = Path(collaborative)
            if not folder.is_dir():
                folder = settings.model_dir(dataset, collaborative)
            model, label = CollaborativeModel.load(folder), collaborative
        if model is not None and model.config.dataset != dataset:
            raise RecommenderError(f"collaborative model {label!r} was trained on "
                                   f"{model.config.dataset!r}, not {dataset!r}")
        rec = cls(content, model, config, label)
        rec.settings = settings
        return rec

    # -- options and inputs -------------------------------------------------------------------

    def _options(self, overrides: dict) -> HybridConfig:
        unknown = sorted(set(overrides) - set(HybridConfig.model_fields))
        if unknown:
            raise RecommenderError(f"unknown option(s) {unknown}; valid: "
                                   f"{sorted(HybridConfig.model_fields)}")
        values = {k: v for k, v in overrides.items() if v is not None}
        try:
            return HybridConfig(**{**self.config.model_dump(), **values})
        except ValidationError as exc:
            raise RecommenderError(f"invalid option {describe_errors(exc)}") from None

    def _check_item(self, item_id: int) -> int:
        try:
            item_id = int(item_id)
        except (TypeError, ValueError):
            raise RecommenderError(f"item id must be an integer, got {item_id!r}") from None
        if item_id not in self.items.index or item_id not in self.content.index:
            raise RecommenderError(f"unknown item {item_id} in dataset {self.dataset!r}")
        return item_id

    def new_user(self, liked: Sequence[int], label: str = "new user") -> NewUser:
        """A new user described by liked item ids (validated against the catalog)."""
        if liked is None or isinstance(liked, str | bytes) or not len(list(liked)):
            raise RecommenderError("a new user needs at least one liked item id")
        return NewUser(tuple(dict.fromkeys(self._check_item(i) for i in liked)), label)

    def _user(self, user_id: int | None, liked: Sequence[int] | None,
              required: bool) -> int | NewUser | None:
        """A known user's model index, a :class:`NewUser`, or None (no user given)."""
        if liked is not None:
            label = "new user" if user_id is None else f"new user {user_id}"
            return self.new_user(liked, label)
        if user_id is None:
            if required:
                raise RecommenderError("no user given: pass user_id for a known user or liked="
                                       "[item ids] for a new one")
            return None
        model = self._require_model()
        known = model.ids.lookup_users([user_id]) if is_int(user_id) else np.array([-1])
        if known[0] < 0:
            raise RecommenderError(
                f"unknown user {user_id!r} in dataset {self.dataset!r} (not in the "
                f"collaborative model's training data); describe a new user by liked item ids "
                f"instead (liked=[...] in Python, --liked on the command line)")
        return int(known[0])

    def _require_model(self):
        if self.collaborative is None:
            raise RecommenderError("no collaborative model loaded: train one with `make "
                                   "pipeline` and load it with Recommender.load(dataset)")
        return self.collaborative

    # -- components ---------------------------------------------------------------------------

    def _seen_ids(self, user: int | NewUser | None) -> np.ndarray:
        if user is None:
            return np.empty(0, np.int64)
        if isinstance(user, NewUser):
            return np.asarray(user.liked, np.int64)
        model = self.collaborative
        return model.ids.items[model.seen.get(user, np.empty(0, np.int64))]

    def warm_up(self) -> None:
        """Do once what the first request would: load the query encoder's graph, the BM25
        index and the quality prior, score one query and one feed with the model, and build
        the new-user fold-in (its user-item matrix: 8 ms on anime) with one new-user pick
        (the dashboard calls this in the background so the first answer is fast; the served
        model at load)."""
        self.content.rank("warm up", 1)
        model = self.collaborative
        if model is not None and len(model.ids.users):
            user = int(model.ids.users[0])
            self.ai_pick(query="warm up", user_id=user, k=3)
            self.personalized_feed(user_id=user, k=3)
            self.user_history(user)
            if len(model.ids.items):
                self.ai_pick(query="warm up", liked=[int(model.ids.items[0])], k=3)

    def user_history(self, user_id: int, n: int = 8) -> pd.DataFrame:
        """What a known user liked: their ``n`` best-rated items among those the model was
        trained on (held-out validation/test items are never shown), best first, with
        ``item_id, title, year, rating``. Ratings come from the prepared interactions."""
        from workbench.data import load_interactions

        seen = self._seen_ids(self._user(user_id, None, required=True))
        if self._ratings is None:  # sorted arrays: one user's rows by bisection (no groupby)
            inter = load_interactions(self.dataset, self.settings)
            order = np.argsort(inter["user_id"].to_numpy(), kind="stable")
            self._ratings = tuple(inter[c].to_numpy()[order]
                                  for c in ("user_id", "item_id", "rating"))
        users, item_ids, values = self._ratings
        lo, hi = np.searchsorted(users, int(user_id)), np.searchsorted(users, int(user_id), "right")
        by_item = pd.Series(values[lo:hi], index=item_ids[lo:hi], dtype=float)
        ratings = by_item.reindex(seen).dropna().sort_values(ascending=False, kind="stable")
        top = ratings.head(n)
        rows = [self._row_of[int(i)] for i in top.index if int(i) in self._row_of]
        known = [int(i) for i in top.index if int(i) in self._row_of]
        return pd.DataFrame({"item_id": known,
                             "title": self._columns["title"][rows] if rows else [],
                             "year": pd.array(self._columns["year"][rows] if rows else [],
                                              dtype="Int64"),
                             "rating": top.loc[known].to_numpy(float)})

    def _preference(self, user: int | NewUser, item_ids: np.ndarray, options: HybridConfig
                    ) -> tuple[np.ndarray, np.ndarray, str, Callable[[], np.ndarray] | None]:
        """Preference scores of ``item_ids`` for ``user``, a mask of those the model could
        score, a note (fallbacks), and a function giving the user's scores of the unrated
        catalog items (called only when a list is shown: an evaluation does not pay for it)."""
        model = self._require_model()
        index = model.ids.lookup_items(item_ids)
        known = index >= 0
        scores = np.full(len(item_ids), np.nan)
        if not known.any():
            return scores, known, "", None
        if not isinstance(user, NewUser):
            scores[known] = model.score_indices(np.full(int(known.sum()), user), index[known])
            seen = model.seen.get(user, np.empty(0, np.int64))
            return scores, known, "", lambda: np.delete(
                model.score_users(np.array([user], np.int64))[0].astype(np.float64), seen)
        liked = model.ids.lookup_items(user.liked)
        rated = liked[liked >= 0]
        folded = self._get_fold_in(options.neighbours).score(rated, index[known])
        if folded is not None:
            scores[known] = folded
            fold = self._get_fold_in(options.neighbours)
            return scores, known, "", lambda: np.delete(np.asarray(
                fold.score(rated, np.arange(model.n_items)), np.float64), rated)
        profile = self.content_profile(user.liked)
        vectors = self.content.index.vectors
        scores = (vectors[self.content.index.rows_of(item_ids)] @ profile).astype(np.float64)
        rows = self.content.index.rows_of(list(user.liked))
        return (scores, np.ones(len(item_ids), bool), "no training user shares a liked item: "
                "preference from the content profile only",
                lambda: np.delete((vectors @ profile).astype(np.float64), rows[rows >= 0]))

    def _get_fold_in(self, neighbours: int) -> FoldIn:
        if self._fold_in is None or self._fold_in.neighbours != neighbours:
            self._fold_in = FoldIn(self._require_model(), neighbours)
        return self._fold_in

    def content_profile(self, liked: Sequence[int]) -> np.ndarray:
        """The normalised mean content vector of ``liked`` items."""
        rows = self.content.index.rows_of([self._check_item(i) for i in liked])
        mean = self.content.index.vectors[rows].mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    def _content_matches(self, query: str | None, item_id: int | None, depth: int
                         ) -> tuple[np.ndarray, np.ndarray, str]:
        """The ``depth`` best content matches of a query (search ranking) or of a seed item
        (its vector), their scores, and what they match; :meth:`candidates` has checked that
        exactly one is given and that the item exists."""
        if query is not None:
            try:
                ids, scores = self.content.rank(query, depth)
            except ContentError as exc:
                raise RecommenderError(str(exc)) from None
            return ids, scores, f"“{query.strip()}”"
        ids, scores = self.content.index.search(self.content.index.vector(item_id), depth)
        return ids[0], scores[0], f"“{self.items.at[item_id, 'title']}”"

    def candidates(self, query: str | None = None, item_id: int | None = None,
                   user_id: int | None = None, liked: Sequence[int] | None = None,
                   with_preference: bool = True, **options) -> Candidates:
        """The content candidates of a request with their similarity and (for a user) their
        preference, in content order. :meth:`ai_pick` is ``rank(candidates(...))``."""
        opts = self._options(options)
        user = self._user(user_id, liked, required=with_preference)
        if (query is None) == (item_id is None):
            raise RecommenderError("give exactly one of query (free text) or item_id (more "
                                   "like this)")
        excluded = set()
        if item_id is not None:
            item_id = self._check_item(item_id)
            excluded.add(item_id)
        if opts.exclude_seen:
            excluded.update(self._seen_ids(user).tolist())
        depth = min(opts.candidates + len(excluded), len(self.content.index))
        ids, sims, about = self._content_matches(query, item_id, depth)
        keep = (ids >= 0) & ~np.isin(ids, list(excluded))
        ids, sims = ids[keep][:opts.candidates], sims[keep][:opts.candidates]
        pref, known, note = np.full(len(ids), np.nan), np.zeros(len(ids), bool), ""
        label, catalog = None, None
        if with_preference and user is not None:
            pref, known, note, catalog = self._preference(user, ids, opts)
            label = user.label if isinstance(user, NewUser) else f"user {user_id}"
        seed = self._franchise_of.get(int(item_id)) if item_id is not None else None
        target = (self.content.query_vector(query) if query is not None
                  else self.content.index.vector(item_id))
        cosine = (self.content.index.vectors[self.content.index.rows_of(ids)] @ target
                  ).astype(np.float64)
        return Candidates(ids, sims.astype(np.float64), pref, known, seed, label, note, about,
                          cosine, catalog)

    def rank_positions(self, cands: Candidates, k: int, mode: Literal["content", "hybrid"],
                       **options) -> tuple[list[int], np.ndarray, int]:
        """Positions into ``cands`` of the top ``k`` (after fusion, franchise filter and MMR),
        the final score of every candidate, and how many candidates the franchise filter hid
        above the last kept one."""
        opts = self._options(options)
        check_k(k, RecommenderError)
        if mode == "content":
            final = cands.similarity.copy()
            order = np.arange(len(final))
        else:
            pref = _fill_unknown(cands.preference, cands.has_preference)
            try:
                final = rerank.fuse_scores(cands.similarity, pref, opts.alpha, opts.strategy)
            except ValueError as exc:
                raise RecommenderError(str(exc)) from None
            order = rerank.order_by(final, cands.similarity, pref, opts.alpha)
        groups = [self.franchise_of(i) for i in cands.item_ids]
        exclude = {cands.seed_franchise} if (opts.exclude_seed_franchise and
                                             cands.seed_franchise is not None) else None
        kept, dropped = rerank.cap_per_group(order, groups, opts.max_per_franchise or None,
                                             exclude)
        if opts.mmr_lambda < 1.0:
            rows = self.content.index.rows_of(cands.item_ids)
            top = rerank.mmr(kept, final, self.content.index.vectors[rows], k, opts.mmr_lambda)
        else:
            top = kept[:k]
        return top, final, rerank.hidden_above(order, top, dropped)

    # -- the three lists ----------------------------------------------------------------------

    def content_match(self, query: str | None = None, item_id: int | None = None, k: int = 10,
                      **options) -> Recommendations:
        """The "left box": items by plot similarity to ``query`` or to ``item_id`` (itself
        excluded), with the franchise filter (and MMR) of ``options``; no user involved."""
        opts = self._options(options)
        check_k(k, RecommenderError)
        depth = {"candidates": max(opts.candidates, 5 * k), "exclude_seen": False}
        cands = self.candidates(query, item_id, with_preference=False,
                                **{**options, **depth})
        top, final, hidden = self.rank_positions(cands, k, "content", **options)
        search = "" if item_id is not None else " · search #{}"
        reasons = [f"{self._similarity_label(cands.item_ids[p])} {cands.cosine[p]:.2f} to "
                   f"{cands.about}{search.format(p + 1)}" for p in top]
        frame = self._frame(cands, top, final, reasons)
        return Recommendations("content match", frame, hidden, len(cands.item_ids),
                               options=opts.model_dump())

    def ai_pick(self, query: str | None = None, item_id: int | None = None,
                user_id: int | None = None, k: int = 10, alpha: float | None = None,
                liked: Sequence[int] | None = None, **options) -> Recommendations:
        """The "right box": content candidates re-ranked for a user (see the module
        docstring). ``liked`` describes a new user (cold start)."""
        opts = self._options({**options, "alpha": alpha})
        check_k(k, RecommenderError)
        cands = self.candidates(query, item_id, user_id, liked, **opts.model_dump())
        top, final, hidden = self.rank_positions(cands, k, "hybrid", **opts.model_dump())
        pref = _fill_unknown(cands.preference, cands.has_preference)
        sim_rank, pref_rank = rerank.ranks(cands.similarity), rerank.ranks(pref)
        what = self._preference_label(liked is not None)
        reasons, pct = [], cands.percentile()
        for p in top:
            liking = (f"{self._preference_text(what, cands.preference[p], pct[p])} "
                      f"(#{pref_rank[p]})"
                      if cands.has_preference[p] else "no ratings yet")
            reasons.append(f"{self._similarity_label(cands.item_ids[p])} "
                           f"{cands.cosine[p]:.2f} (#{sim_rank[p]}) · {liking} "
                           f"for {cands.user_label}")
        frame = self._frame(cands, top, final, reasons, pct)
        return Recommendations("AI pick", frame, hidden, len(cands.item_ids), cands.note,
                               opts.model_dump())

    def personalized_feed(self, user_id: int | None = None, k: int = 10,
                          liked: Sequence[int] | None = None, **options) -> Recommendations:
        """"For you": the ``feed_pool`` trending items ranked by the user's predicted
        preference (a new user's: the mean of the normalised fold-in preference and content
        profile similarity), with the franchise filter."""
        opts = self._options(options)
        check_k(k, RecommenderError)
        user = self._user(user_id, liked, required=True)
        trend = self.trending(opts.trending)
        seen = set(self._seen_ids(user).tolist()) if opts.exclude_seen else set()
        pool = trend[~trend.index.isin(list(seen))].head(opts.feed_pool)
        ids = pool.index.to_numpy(np.int64)
        raw, known, note, catalog = self._preference(user, ids, opts)
        pref = _fill_unknown(raw, known)
        if isinstance(user, NewUser) and not note:
            rows = self.content.index.rows_of(ids)
            profile_sim = self.content.index.vectors[rows] @ self.content_profile(user.liked)
            pref = 0.5 * rerank.minmax(pref) + 0.5 * rerank.minmax(profile_sim)
        cands = Candidates(ids, np.full(len(ids), np.nan), pref, known, None,
                           user.label if isinstance(user, NewUser) else f"user {user_id}", note,
                           cosine=np.full(len(ids), np.nan), catalog=catalog)
        order = np.argsort(-pref, kind="stable")
        groups = [self.franchise_of(i) for i in ids]
        kept, dropped = rerank.cap_per_group(order, groups, opts.max_per_franchise or None)
        top = kept[:k]
        hidden = rerank.hidden_above(order, top, dropped)
        what = self._preference_label(isinstance(user, NewUser))
        trend_rank = trend.index.get_indexer(ids[top]) + 1
        pct = cands.percentile(raw)  # of the model's own score (a new user's is blended)
        reasons = [f"trending #{trend_rank[n]} ({opts.trending}) · "
                   f"{self._preference_text(what, raw[p], pct[p])} for {cands.user_label}"
                   for n, p in enumerate(top)]
        frame = self._frame(cands, top, pref, reasons, pct)
        return Recommendations("for you", frame, hidden, len(ids), note, opts.model_dump())

    def trending(self, how: str = "blend") -> pd.Series:
        """Catalog items by trending score, best first (see :attr:`HybridConfig.trending`)."""
        if how not in TRENDING:
            raise RecommenderError(f"trending must be one of {', '.join(TRENDING)}, got {how!r}")
        if how not in self._trending:
            items = self.items
            columns = {"popularity": items["popularity"], "recent": items["year"],
                       "rating": items["weighted_rating"]}
            pct = {name: pd.to_numeric(col, errors="coerce").astype(float).rank(pct=True)
                   .fillna(0.0) for name, col in columns.items()}
            score = (sum(pct.values()) / 3 if how == "blend" else
                     pct[how] + 1e-3 * pct["popularity"])
            self._trending[how] = score.sort_values(ascending=False, kind="stable")
        return self._trending[how]

    # -- output -------------------------------------------------------------------------------

    @property
    def rating_scale(self) -> tuple[float, float] | None:
        """The catalog's rating scale when the model predicts ratings (explicit objective),
        else None (its scores have no unit: shown as percentiles)."""
        model = self.collaborative
        if model is None or model.config.objective != "explicit" or model.score_label:
            return None
        from workbench.data import get_dataset

        return tuple(get_dataset(self.dataset, self.settings).rating_scale)

    def _similarity_label(self, item_id: int) -> str:
        return explain.similarity_label(bool(self._has_plot[self._row_of[int(item_id)]]))

    def _preference_text(self, label: str, value: float, percentile: float) -> str:
        """A preference in words (a rating on the scale, a percentile)."""
        return explain.preference_text(label, float(value), float(percentile),
                                       self.rating_scale)

    def _preference_label(self, new_user: bool) -> str:
        model = self.collaborative
        if new_user:
            return ("preference from the liked items" if model is not None and
                    model.scores_history else "neighbours' preference")
        if model is not None and model.score_label:
            return model.score_label
        if model is not None and model.config.objective == "explicit":
            return "predicted rating"
        return "predicted preference"

    def _frame(self, cands: Candidates, top: list[int], final: np.ndarray,
               reasons: list[str], percentile: np.ndarray | None = None) -> pd.DataFrame:
        top = np.asarray(top, np.int64)
        ids = cands.item_ids[top]
        rows = np.fromiter((self._row_of[int(i)] for i in ids), np.int64, len(ids))
        year = pd.array(self._columns["year"][rows], dtype="Int64")
        return pd.DataFrame({
            "rank": np.arange(1, len(ids) + 1), "item_id": ids.astype(np.int64),
            "title": self._columns["title"][rows], "year": year,
            "genres": self._columns["genres"][rows],
            "franchise": self._columns["franchise"][rows],
            "similarity": cands.similarity[top],
            "preference": np.where(cands.has_preference[top], cands.preference[top], np.nan),
            "score": np.asarray(final, np.float64)[top], "reason": reasons,
            "cosine": _or_nan(cands.cosine, len(cands.item_ids))[top],
            "preference_percentile": np.where(cands.has_preference[top], _or_nan(
                percentile, len(cands.item_ids))[top], np.nan),
        }, columns=RESULT_COLUMNS)


def _or_nan(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.asarray(values, np.float64)


def _fill_unknown(pref: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Preferences with unscorable items set to the lowest known one (0 when none known)."""
    pref = np.asarray(pref, np.float64).copy()
    floor = float(np.nanmin(pref[known])) if known.any() else 0.0
    pref[~known | np.isnan(pref)] = floor
    return pref
