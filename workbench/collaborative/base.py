"""The one interface every collaborative model implements, its configuration, and persistence.

A model is a subclass of :class:`CollaborativeModel` in one module of
:mod:`workbench.collaborative.models`, registered by name with
:func:`workbench.collaborative.registry.register`. It declares, once:

- ``name``: what configs, notebooks, sweeps and the CLI call it;
- ``Params``: a pydantic model of its hyperparameters, each with a type, a default, bounds and
  a docstring (``workbench collaborative models`` prints them);
- ``objectives``: ``("implicit",)`` for ranking models, plus ``"explicit"`` where it can
  regress ratings;
- ``fit``: learn from training :class:`Interactions` (and, where it stops early, the
  validation interactions);
- ``score_users``: a dense ``(users, items)`` block of scores over the whole catalog;
- ``_weights`` / ``_restore``: the arrays that make it up (saved as ``weights.npz``, loaded
  with ``allow_pickle=False``). Keras models save a ``.keras`` file instead (safe mode).

Everything else (``score``, ``recommend``, ``score_indices``, ``save``, ``load``) is here, so
a new model is one module of about a hundred lines.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from scipy import sparse

from workbench import WorkbenchError
from workbench.collaborative.capacity import Cost, Shape, sparse_bytes
from workbench.collaborative.errors import CollaborativeError
from workbench.collaborative.registry import model_class
from workbench.errors import check_k, describe_errors
from workbench.settings import Settings, get_settings
from workbench.storage import replace_folder

FORMAT = 2
"""Version of the saved model folder layout (1: before the model zoo)."""
_SCORE_CHUNK = 65536


class ModelParams(BaseModel):
    """Base of every model's hyperparameters: unknown keys are refused; each field's
    docstring is its documentation."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class CollabConfig(BaseModel):
    """What to train: the dataset, the model by name, its hyperparameters, the seed.

    ``params`` is checked against the model's ``Params`` and completed with its defaults, so
    two configs that train the same thing compare equal.
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str
    model: str = "ease"
    """A registered model name (``workbench collaborative models`` lists them)."""
    objective: Literal["implicit", "explicit"] = "implicit"
    """``implicit``: rank items (every rating is a positive); ``explicit``: predict ratings."""
    split: Literal["leave_last_out", "random_holdout"] = "leave_last_out"
    params: dict[str, Any] = {}
    """The model's hyperparameters; missing ones take the model's defaults."""
    seed: int = 42

    @model_validator(mode="after")
    def _complete_params(self) -> CollabConfig:
        cls = model_class(self.model)
        if self.objective not in cls.objectives:
            raise ValueError(f"model {self.model!r} supports the objective(s) "
                             f"{list(cls.objectives)}, not {self.objective!r}")
        try:
            self.params = cls.complete_params(self.params)
        except ValidationError as exc:
            raise ValueError(describe_errors(exc, prefix="params.")) from None
        except ValueError as exc:
            raise ValueError(f"params.{exc}") from None
        return self

    @property
    def typed_params(self) -> ModelParams:
        """``params`` as the model's ``Params`` object."""
        return model_class(self.model).Params(**self.params)


def make_config(**values: Any) -> CollabConfig:
    """A :class:`CollabConfig`, with validation errors turned into one readable
    :class:`CollaborativeError` (``params.l2: Input should be greater than 0 (got -1)``)."""
    try:
        return CollabConfig(**values)
    except ValidationError as exc:
        raise CollaborativeError(f"invalid collaborative config: {describe_errors(exc)}") \
            from None
    except WorkbenchError:
        raise


@dataclass
class IdMap:
    """Source ids <-> contiguous indices."""

    users: np.ndarray
    items: np.ndarray
    _u: dict[int, int] = field(init=False, repr=False)
    _i: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.users = np.asarray(self.users, np.int64)
        self.items = np.asarray(self.items, np.int64)
        self._u = {int(u): n for n, u in enumerate(self.users)}
        self._i = {int(i): n for n, i in enumerate(self.items)}

    def user_index(self, user_id: int) -> int:
        """Index of ``user_id``; :class:`CollaborativeError` if unknown."""
        try:
            return self._u[int(user_id)]
        except (KeyError, TypeError, ValueError, OverflowError):
            raise CollaborativeError(f"unknown user {user_id!r}: not in the training data "
                                     f"(new users go through the cold-start path)") from None

    @staticmethod
    def _lookup(table: dict[int, int], ids) -> np.ndarray:
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        return np.fromiter((table.get(int(i), -1) for i in ids), np.int64, len(ids))

    def lookup_users(self, user_ids) -> np.ndarray:
        """Indices of ``user_ids``, -1 where unknown."""
        return self._lookup(self._u, user_ids)

    def lookup_items(self, item_ids) -> np.ndarray:
        """Indices of ``item_ids``, -1 where unknown."""
        return self._lookup(self._i, item_ids)

    def item_indices(self, item_ids) -> np.ndarray:
        """Indices of ``item_ids``; :class:`CollaborativeError` naming unknown ones."""
        out = self.lookup_items(item_ids)
        if (out < 0).any():
            unknown = np.atleast_1d(np.asarray(item_ids, np.int64))[out < 0]
            raise CollaborativeError(f"unknown item id(s) {unknown[:5].tolist()}")
        return out


@dataclass
class Interactions:
    """Interactions as index arrays over an :class:`IdMap` (what ``fit`` receives)."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    n_users: int
    n_items: int
    timestamp: np.ndarray | None = None
    """Unix seconds (float64) per interaction; None where the dataset has no timestamps
    (sequential models need them)."""

    @classmethod
    def from_frame(cls, df: pd.DataFrame, ids: IdMap) -> Interactions:
        """Rows of ``df`` (user_id, item_id, rating, and timestamp where it has one) whose
        user and item ``ids`` knows."""
        users, items = ids.lookup_users(df["user_id"]), ids.lookup_items(df["item_id"])
        keep = (users >= 0) & (items >= 0)
        times = None
        if "timestamp" in df and df["timestamp"].notna().any():
            times = pd.to_numeric(df["timestamp"]).to_numpy(np.float64, na_value=np.nan)[keep]
        return cls(users[keep], items[keep], df["rating"].to_numpy(np.float32)[keep],
                   len(ids.users), len(ids.items), times)

    def __len__(self) -> int:
        return len(self.user)

    def matrix(self, values: Literal["binary", "rating"] = "binary") -> sparse.csr_matrix:
        """The ``(n_users, n_items)`` CSR matrix of ones (or of ratings)."""
        data = np.ones(len(self.user), np.float32) if values == "binary" else self.rating
        return sparse.csr_matrix((data, (self.user, self.item)),
                                 shape=(self.n_users, self.n_items), dtype=np.float32)

    def by_user(self) -> dict[int, np.ndarray]:
        """Each user's items (sorted item indices)."""
        order = np.lexsort((self.item, self.user))
        users, items = self.user[order], self.item[order]
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else []
        bounds = [*starts, len(users)]
        return {int(users[s]): items[s:e] for s, e in itertools.pairwise(bounds)}


@dataclass
class FitContext:
    """What a model may need beyond its interactions while it trains."""

    dataset: str
    seed: int
    settings: Any = None
    """The :class:`workbench.settings.Settings` (the content-aware model reads the index)."""
    verbose: int = 0
    fixed_epochs: int | None = None
    """Iterative models: train exactly this many epochs, no early stopping (a refit)."""
    validation_metric: Any = None
    """``f(model) -> float``: ranking quality on the validation users (higher is better), for
    models that stop early on it."""
    progress: Any = None
    """``f(line)``: a model that trains in epochs or iterations reports each one (a short
    status such as ``"epoch 3/20, val NDCG@10 0.0512"``); None: nobody listens."""

    def report(self, line: str) -> None:
        """Pass ``line`` to :attr:`progress`, if anyone listens."""
        if self.progress is not None:
            self.progress(line)


def train_epochs(context: FitContext, epochs: int, patience: int, by_ndcg: bool,
                 run_epoch: Callable[[], float], model: Any, snapshot: Callable[[], Any],
                 restore: Callable[[Any], None]) -> dict[str, list[float]]:
    """The epoch loop of an iterative model: ``run_epoch()`` (one pass, its mean loss) up to
    ``epochs`` times, each epoch reported. With ``by_ndcg``, ``context.validation_metric(model)``
    after each epoch, the best epoch's ``snapshot()`` kept and ``restore``d at the end, and a
    stop after ``patience`` epochs without gain. The history: ``loss`` per epoch,
    ``val_ndcg_at_10`` (with ``by_ndcg``) and ``best_epoch`` (the epochs run without it)."""
    history: dict[str, list[float]] = {"loss": []}
    best, best_weights, best_epoch, waited = -np.inf, None, 0, 0
    for epoch in range(1, epochs + 1):
        history["loss"].append(run_epoch())
        if not by_ndcg:
            context.report(f"epoch {epoch}/{epochs}, loss {history['loss'][-1]:.4f}")
            continue
        value = float(context.validation_metric(model))
        history.setdefault("val_ndcg_at_10", []).append(value)
        context.report(f"epoch {epoch}/{epochs}, val NDCG@10 {value:.4f}")
        if value > best + 1e-6:
            best, best_weights, best_epoch, waited = value, snapshot(), epoch, 0
        else:
            waited += 1
            if waited >= patience:
                break
    if best_weights is not None:
        restore(best_weights)
    history["best_epoch"] = [float(best_epoch or len(history["loss"]))]
    return history


class CollaborativeModel:
    """Base class: a trained model with its id mapping and each user's training items."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[ModelParams]] = ModelParams
    objectives: ClassVar[tuple[str, ...]] = ("implicit",)
    summary: ClassVar[str] = ""
    """One line for ``workbench collaborative models``."""
    composite: ClassVar[bool] = False
    """Made of other models (``params.members``; their tuned values fill
    ``params.member_params`` in a training job)."""
    iterative: ClassVar[bool] = False
    """Trains in epochs and stops early on the validation split (a refit then trains the
    best epoch count on the whole training split)."""
    score_label: ClassVar[str] = ""
    """What the hybrid calls this model's score in its reasons; empty: "predicted
    preference" ("predicted rating" for the explicit objective)."""
    fallbacks: ClassVar[tuple[str, ...]] = ("ials", "popularity")
    """Models named instead when this one would not fit the memory budget."""

    @classmethod
    def cost(cls, params: ModelParams, shape: Shape) -> Cost:
        """Estimated peak memory and rough training time on ``shape``
        (:mod:`workbench.collaborative.capacity`); a model whose arrays grow otherwise
        overrides it. The default: a few copies of the sparse interaction matrix."""
        return Cost(3 * sparse_bytes(shape.interactions, shape.users),
                    2e-7 * shape.interactions)

    @classmethod
    def complete_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` checked against ``Params`` and completed with its defaults (a model
        with nested parameters, like a blend, checks those too)."""
        return cls.Params(**params).model_dump(mode="json")

    def __init__(self, config: CollabConfig, ids: IdMap, seen: dict[int, np.ndarray],
                 history: dict[str, list[float]] | None = None) -> None:
        self.config = config
        self.ids = ids
        self.seen = seen
        self.history = history or {}

    @property
    def params(self) -> Any:
        """The config's hyperparameters as this model's ``Params``."""
        return self.Params(**self.config.params)

    @property
    def n_items(self) -> int:
        return len(self.ids.items)

    @property
    def best_epochs(self) -> int | None:
        """Epochs the early stopping kept (iterative models), else None."""
        value = self.history.get("best_epoch")
        return int(value[0]) if value else None

    # -- to implement ------------------------------------------------------------------------

    def fit(self, train: Interactions, validation: Interactions | None,
            context: FitContext) -> None:
        """Learn from ``train``; iterative models may stop early on ``validation``."""
        raise NotImplementedError

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores of every catalog item for each of ``users`` (indices): ``(len(users),
        n_items)`` float32, higher is better."""
        raise NotImplementedError

    def _weights(self) -> dict[str, np.ndarray]:
        """The arrays that make up the trained model (saved as ``weights.npz``)."""
        raise NotImplementedError

    def _restore(self, weights: dict[str, np.ndarray]) -> None:
        """Set the model up from :meth:`_weights`' arrays."""
        raise NotImplementedError

    @property
    def scores_history(self) -> bool:
        """Whether :meth:`score_history` folds a new user in directly."""
        return type(self).score_history is not CollaborativeModel.score_history

    def score_history(self, liked: np.ndarray, items: np.ndarray) -> np.ndarray | None:
        """Scores of ``items`` for a user known only by ``liked`` item indices, where the
        model can fold a new user in directly (item-based models); None otherwise."""
        return None

    # -- scoring -----------------------------------------------------------------------------

    def score_indices(self, user_index: np.ndarray, item_index: np.ndarray) -> np.ndarray:
        """Scores of ``(user, item)`` index pairs (float32), one :meth:`score_users` call per
        distinct user."""
        users = np.asarray(user_index, np.int64).reshape(-1)
        items = np.asarray(item_index, np.int64).reshape(-1)
        out = np.empty(len(users), np.float32)
        if not len(users):
            return out
        unique, inverse = np.unique(users, return_inverse=True)
        step = max(1, _SCORE_CHUNK // max(1, self.n_items))
        for start in range(0, len(unique), step):
            block = unique[start:start + step]
            scores = self.score_users(block)
            rows = (inverse >= start) & (inverse < start + len(block))
            out[rows] = scores[inverse[rows] - start, items[rows]]
        return out

    def score(self, user_id: int, item_ids) -> np.ndarray:
        """Predicted preference of ``user_id`` for each of ``item_ids`` (one batched call)."""
        u = self.ids.user_index(user_id)
        items = self.ids.item_indices(item_ids)
        return self.score_indices(np.full(len(items), u), items)

    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``k`` items for ``user_id`` over the catalog: rank, item_id, score."""
        check_k(k, CollaborativeError)
        u = self.ids.user_index(user_id)
        scores = self.score_users(np.array([u]))[0].astype(np.float64)
        if exclude_seen:
            scores[self.seen.get(u, np.empty(0, np.int64))] = -np.inf
        k = min(int(k), int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.empty(0, np.int64)
        top = top[np.lexsort((top, -scores[top]))]  # ties by item index, as in evaluation
        return pd.DataFrame({"rank": np.arange(1, len(top) + 1),
                             "item_id": self.ids.items[top], "score": scores[top]})

    def with_seen(self, seen: dict[int, np.ndarray]) -> CollaborativeModel:
        """A shallow copy that treats ``seen`` as the users' known items (evaluation on a
        validation split excludes only the items the model was fitted on)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.seen = seen
        return copy

    # -- persistence -------------------------------------------------------------------------

    def _save_weights(self, folder: Path) -> None:
        np.savez(folder / "weights.npz", **self._weights())

    def _load_weights(self, folder: Path) -> None:
        with np.load(folder / "weights.npz", allow_pickle=False) as npz:
            self._restore({name: npz[name] for name in npz.files})

    def save(self, folder: Path) -> None:
        """Write the model into ``folder`` atomically (a new folder, then a rename).

        ``config.json`` (config, history, format), ``ids.npz`` (id mappings and training
        items) and the weights. A previous version is replaced only once the new one is
        complete.
        """
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{time.time_ns()}")
        tmp.mkdir()
        try:
            self._save_weights(tmp)
            users = np.concatenate([np.full(len(v), u) for u, v in self.seen.items()]) \
                if self.seen else np.empty(0, np.int64)
            items = np.concatenate(list(self.seen.values())) if self.seen else users
            np.savez(tmp / "ids.npz", users=self.ids.users, items=self.ids.items,
                     seen_users=users.astype(np.int64), seen_items=items.astype(np.int64))
            (tmp / "config.json").write_text(json.dumps(
                {"format": FORMAT, "config": self.config.model_dump(mode="json"),
                 "history": self.history}, indent=2))
            replace_folder(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> CollaborativeModel:
        """Load a model saved by :meth:`save` (any registered kind); a clear error when it
        is missing, corrupt, or from an older version."""
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise CollaborativeError(f"collaborative model {folder} is missing; train one with "
                                     f"notebooks/03_train_collaborative.ipynb or `make pipeline`")
        try:
            meta = json.loads((folder / "config.json").read_text())
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CollaborativeError(
                    f"collaborative model {folder} was saved by an older version of the "
                    f"workbench (format {meta.get('format', 1) if isinstance(meta, dict) else '?'}"
                    f", this one reads {FORMAT}); retrain it (`make pipeline`)")
            try:
                config = make_config(**meta["config"])
            except CollaborativeError as exc:
                if "unknown model" not in str(exc):
                    raise
                raise CollaborativeError(
                    f"collaborative model {folder} was trained with a model that is not "
                    f"registered here ({exc}); import the module that registers it") from None
            with np.load(folder / "ids.npz", allow_pickle=False) as npz:
                ids = IdMap(npz["users"], npz["items"])
                su, si = npz["seen_users"], npz["seen_items"]
            seen = Interactions(su, si, np.ones(len(su), np.float32), len(ids.users),
                                len(ids.items)).by_user()
            model = model_class(config.model)(config, ids, seen, meta.get("history"))
            model._load_weights(folder)
        except CollaborativeError as exc:
            if any(s in str(exc) for s in ("is corrupt", "older version", "not registered")):
                raise
            raise CollaborativeError(f"collaborative model {folder} is corrupt ({exc}); "
                                     f"retrain it (`make pipeline`)") from None
        except Exception as exc:  # damaged zip / npz / json raise many types
            raise CollaborativeError(f"collaborative model {folder} is corrupt ({exc}); "
                                     f"retrain it (`make pipeline`)") from None
        return model


def model_dir(config: CollabConfig, settings: Settings | None = None) -> Path:
    """Where a model of ``config`` is saved: ``models/<dataset>/collaborative/
    <model>-<objective>`` (:meth:`Settings.model_dir`)."""
    return (settings or get_settings()).model_dir(config.dataset,
                                                  f"{config.model}-{config.objective}")


def is_trained(config: CollabConfig, settings: Settings | None = None) -> bool:
    """True when a model with exactly ``config`` is saved in :func:`model_dir`."""
    path = model_dir(config, settings) / "config.json"
    try:
        meta = json.loads(path.read_text())
        return meta.get("format") == FORMAT and meta["config"] == config.model_dump(mode="json")
    except (OSError, ValueError, KeyError, AttributeError):
        return False


class FactorModel(CollaborativeModel):
    """Base of latent-factor models: ``score(u, i) = user_factors[u] . item_factors[i]``."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    fallbacks = ("popularity",)

    @classmethod
    def cost(cls, params, shape: Shape) -> Cost:
        """Factors (float32, and a working copy) and the matrix with its transpose; time
        measured for ``implicit`` on 2 cores (4.1 s an iteration at 9.7M interactions, 64
        factors)."""
        factors = getattr(params, "factors", 64)
        sweeps = getattr(params, "iterations", 15)
        memory = (3 * 4 * (shape.users + shape.items) * factors
                  + 2 * sparse_bytes(shape.interactions, shape.users + shape.items))
        seconds = sweeps * (shape.interactions * factors * 5e-9
                            + (shape.users + shape.items) * factors * 1.5e-8)
        return Cost(memory, seconds)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_factors[np.asarray(users, np.int64)] @ self.item_factors.T,
                          np.float32)

    def score_indices(self, user_index, item_index) -> np.ndarray:
        u = self.user_factors[np.asarray(user_index, np.int64).reshape(-1)]
        v = self.item_factors[np.asarray(item_index, np.int64).reshape(-1)]
        return np.einsum("ij,ij->i", u, v).astype(np.float32)

    def _weights(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, weights) -> None:
        self.user_factors = weights["user_factors"]
        self.item_factors = weights["item_factors"]
