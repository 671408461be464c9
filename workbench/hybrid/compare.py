"""Two collaborative models side by side for one user: each model's top-k (the user's rated
items left out, as the feed does) and what the two lists share.

::

    from workbench.hybrid import Recommender
    from workbench.hybrid.compare import comparable_models, compare, default_pair, with_model
    rec = Recommender.load("movies")                  # the content engine, loaded once
    comparable_models("movies")                        # ["champion", "ease-implicit", ...]
    a, b = (with_model(rec, name) for name in default_pair("movies"))
    result = compare(a, b, user_id=17)                 # result.lists, result.common
    result.summary()                                   # "3 of 10 in common (Jaccard 0.18)"

The comparable models are the ones saved under ``models/<dataset>/collaborative/``: the
champion's local copy (``champion``, listed first) and every ``<model>-<objective>`` folder
that notebook 03 (``save_model``; the pipeline's default sweeps) left there. The MLflow
registry is not asked: no tracking server is needed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from workbench.collaborative.champion import ALIAS, champion_info
from workbench.errors import first_line
from workbench.hybrid.recommender import Recommendations, Recommender, RecommenderError
from workbench.settings import Settings, get_settings

TOP_K = 10
"""How many items each model's list holds."""


def comparable_models(dataset: str, settings: Settings | None = None) -> list[str]:
    """The saved collaborative models of ``dataset`` that load by name: ``champion`` first
    (when there is a local copy), then the ``<model>-<objective>`` folders, sorted."""
    settings = settings or get_settings()
    folder = settings.model_dir(dataset, ALIAS).parent
    saved = sorted(path.name for path in folder.iterdir()
                   if path.is_dir() and not path.name.startswith(".") and path.name != ALIAS
                   and (path / "config.json").is_file()) if folder.is_dir() else []
    champion = (settings.champion_dir(dataset) / "config.json").is_file()
    return [ALIAS, *saved] if champion else saved


def _available(dataset: str, names: list[str]) -> str:
    if not names:
        return (f"no saved models for {dataset}: run `make pipeline` (or notebook 03 with "
                f"save_model=True)")
    return f"available: {', '.join(names)}"


def default_pair(dataset: str, settings: Settings | None = None,
                 names: list[str] | None = None) -> tuple[str, str]:
    """The two models shown first: the champion and the first saved model of another kind
    than the champion's (its own folder is usually the same model), else the first two."""
    names = comparable_models(dataset, settings) if names is None else names
    if len(names) < 2:
        raise RecommenderError(f"two models are needed to compare; {_available(dataset, names)}")
    if names[0] != ALIAS:
        return names[0], names[1]
    kind = (champion_info(dataset, settings) or {}).get("model")
    others = names[1:]
    different = [n for n in others if n.rsplit("-", 1)[0] != kind]
    return ALIAS, (different or others)[0]


def load_model(dataset: str, name: str, settings: Settings | None = None):
    """The saved collaborative model ``name`` of ``dataset`` (one of
    :func:`comparable_models`) and its label; a one-line :class:`RecommenderError` naming the
    model and what is available when it is unknown, missing or corrupt."""
    from workbench.collaborative import CollaborativeError, CollaborativeModel
    from workbench.collaborative.champion import load_champion

    settings = settings or get_settings()
    names = comparable_models(dataset, settings)
    if name not in names:
        raise RecommenderError(f"unknown model {name!r} for {dataset}; "
                               f"{_available(dataset, names)}")
    try:
        if name == ALIAS:
            return load_champion(dataset, settings)
        model = CollaborativeModel.load(settings.model_dir(dataset, name))
    except CollaborativeError as exc:
        problem = first_line(exc, type(exc).__name__)
        raise RecommenderError(f"model {name!r} of {dataset} could not be loaded ({problem}); "
                               f"{_available(dataset, names)}") from None
    if model.config.dataset != dataset:
        raise RecommenderError(f"model {name!r} was trained on {model.config.dataset!r}, not "
                               f"{dataset!r}")
    return model, name


def with_model(rec: Recommender, name: str, settings: Settings | None = None) -> Recommender:
    """A recommender on ``rec``'s content engine (not loaded again) with the saved
    collaborative model ``name`` (:func:`load_model`)."""
    settings = settings or rec.settings
    model, label = load_model(rec.dataset, name, settings)
    other = Recommender(rec.content, model, rec.config, label)
    other.settings = settings
    return other


def top_k(rec: Recommender, user_id: int, k: int = TOP_K) -> Recommendations:
    """``rec``'s model's top-``k`` for a known user over the whole catalog, the user's rated
    items left out: the personalised feed with the whole catalog as its pool and no franchise
    filter (so the same cards and bars); each reason is the model's preference alone (the
    feed's trending rank says nothing here)."""
    recs = rec.personalized_feed(user_id=user_id, k=k, feed_pool=len(rec.items),
                                 max_per_franchise=0)
    frame = recs.frame.assign(reason=recs.frame["reason"].str.split(" · ", n=1).str[-1])
    return dataclasses.replace(recs, kind=f"top {k} of the unrated catalog", frame=frame)


@dataclass(frozen=True)
class Comparison:
    """Two models' top-k for one user and their overlap."""

    user_id: int
    k: int
    names: tuple[str, str]
    lists: tuple[Recommendations, Recommendations]

    @property
    def common(self) -> list[int]:
        """The items in both lists, in the first list's order."""
        second = set(self.lists[1].item_ids)
        return [i for i in self.lists[0].item_ids if i in second]

    @property
    def jaccard(self) -> float:
        """Items in both over items in either (0 when both lists are empty)."""
        union = set(self.lists[0].item_ids) | set(self.lists[1].item_ids)
        return len(self.common) / len(union) if union else 0.0

    def summary(self) -> str:
        """One line: ``3 of 10 in common (Jaccard 0.18)``."""
        return f"{len(self.common)} of {self.k} in common (Jaccard {self.jaccard:.2f})"


def compare(a: Recommender, b: Recommender, user_id: int, k: int = TOP_K) -> Comparison:
    """Each model's :func:`top_k` for ``user_id`` and what they share."""
    return Comparison(int(user_id), k, (a.model_label, b.model_label),
                      (top_k(a, user_id, k), top_k(b, user_id, k)))
