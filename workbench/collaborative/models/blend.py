"""Blend: a weighted sum of other registered models' scores. With content kNN among its
members it is the zoo's content-aware model.

For a user, each member scores the whole catalog; each member's row is divided by its largest
absolute value (so a weight means the same whatever a model's score scale), multiplied by the
member's weight, and the rows are added. The default,

    ease 1.0 + itemknn 0.5 + content_knn 0.3,

adds to EASE the sharper co-occurrence neighbours of item-kNN (sequels, seasons) and the
nearest plots of content kNN, which also reach items nobody rated.

Hyperparameters: ``members`` (model -> weight) and ``member_params`` (model -> its
hyperparameters). A training job fills each member's parameters the way it fills any
model's: the member's defaults, then its tuned values for the dataset
(``experiments/tuned/<dataset>.yaml``), then ``member_params``. So a tuning study of the blend
searches the weights only, over members tuned by their own studies (stacking), which keeps
the search small where validation data is noisy.

Members are trained on the same rows and saved in ``members/<model>/`` of the blend's folder.
Members that train in epochs (the Keras models) are refused: a refit would need each one's
own best epoch count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationError

from workbench.collaborative.base import (
    CollaborativeError,
    CollaborativeModel,
    FitContext,
    ModelParams,
)
from workbench.collaborative.capacity import Cost
from workbench.collaborative.registry import model_class, register
from workbench.errors import describe_errors


def _scaled(scores: np.ndarray) -> np.ndarray:
    scale = np.abs(scores).max(axis=1, keepdims=True)
    return scores / np.where(scale > 0, scale, 1.0)


@register
class Blend(CollaborativeModel):
    name = "blend"
    composite = True
    summary = "weighted sum of member models' scaled scores (content-aware with content_knn)"

    class Params(ModelParams):
        members: dict[str, float] = Field(
            default_factory=lambda: {"ease": 1.0, "itemknn": 0.5, "content_knn": 0.3})
        """Member model -> weight (>= 0, at least one > 0); members are registered,
        non-iterative models."""
        member_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
        """Member model -> its hyperparameters (completed with its defaults)."""

    @classmethod
    def complete_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        p = cls.Params(**params)
        if not p.members or any(w < 0 for w in p.members.values()) or not any(
                w > 0 for w in p.members.values()):
            raise ValueError("members: give at least one member, weights >= 0, one > 0")
        extra = sorted(set(p.member_params) - set(p.members))
        if extra:
            raise ValueError(f"member_params: {extra} are not members")
        completed = {}
        for name in p.members:
            member = model_class(name)
            if member is cls:
                raise ValueError("members: a blend cannot contain a blend")
            if member.iterative:
                raise ValueError(f"members: {name!r} trains in epochs; blend members must "
                                 f"not (a refit would need each one's best epoch count)")
            try:
                completed[name] = member.complete_params(p.member_params.get(name, {}))
            except ValidationError as exc:
                raise ValueError(describe_errors(exc, prefix=f"member_params.{name}.")) \
                    from None
        return {"members": {k: float(v) for k, v in p.members.items()},
                "member_params": completed}

    members: dict[str, CollaborativeModel]
    fallbacks = ("ials", "popularity")

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """The members' costs added up (all are held at once)."""
        total = Cost(0.0, 0.0)
        for name, weight in params.members.items():
            if weight > 0:
                member = model_class(name)
                total = total + member.cost(member.Params(**params.member_params.get(
                    name, {})), shape)
        return total

    def _member(self, name: str) -> CollaborativeModel:
        from workbench.collaborative.base import make_config

        config = make_config(dataset=self.config.dataset, model=name, split=self.config.split,
                             seed=self.config.seed,
                             params=self.config.params["member_params"][name])
        return model_class(name)(config, self.ids, self.seen)

    def fit(self, train, validation, context: FitContext) -> None:
        self.members = {}
        for name, weight in self.config.params["members"].items():
            if weight > 0:
                member = self._member(name)
                context.report(f"member {name}")
                member.fit(train, validation, context)
                self.members[name] = member

    def with_seen(self, seen):
        copy = super().with_seen(seen)
        copy.members = {n: m.with_seen(seen) for n, m in self.members.items()}
        return copy

    def _combine(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        weights = self.config.params["members"]
        total = sum(weights[n] * _scaled(np.atleast_2d(s)) for n, s in parts.items())
        return np.asarray(total, np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self._combine({n: m.score_users(users) for n, m in self.members.items()})

    def score_history(self, liked, items) -> np.ndarray | None:
        if not all(m.scores_history for m in self.members.values()):
            return None
        everything = np.arange(self.n_items)
        rows = {n: m.score_history(liked, everything) for n, m in self.members.items()}
        return self._combine(rows)[0, np.asarray(items, np.int64)]

    def _save_weights(self, folder) -> None:
        for name, member in self.members.items():
            target = folder / "members" / name
            target.mkdir(parents=True)
            member._save_weights(target)

    def _load_weights(self, folder) -> None:
        self.members = {}
        for name, weight in self.config.params["members"].items():
            if weight > 0:
                member = self._member(name)
                if not (folder / "members" / name).is_dir():
                    raise CollaborativeError(f"member {name!r} is missing from {folder}")
                member._load_weights(folder / "members" / name)
                self.members[name] = member
