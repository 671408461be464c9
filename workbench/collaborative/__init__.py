"""Collaborative engine: a zoo of models behind one interface, chosen on validation data.

Models (``workbench collaborative models`` lists them with their parameters): popularity,
item-kNN, EASE, iALS and BPR (library ``implicit``), MF/GMF/MLP/NeuMF (Keras), content kNN,
and the content-aware ``blend`` (EASE + item-kNN + content kNN). Each is one module of
:mod:`workbench.collaborative.models`, registered by name (:func:`register`), with its
hyperparameters declared once in its ``Params``.

::

    from workbench import data
    from workbench.collaborative import make_config, train, validation_split, refit
    split = data.load_split("movies", "leave_last_out")
    catalog = data.load_items("movies")["item_id"].to_numpy()
    fit_rows, val_rows = validation_split(split.train, seed=42)
    config = make_config(dataset="movies", model="ease", params={"l2": 200})
    selected = train(config, fit_rows, catalog, validation=val_rows)  # choose on validation
    model = refit(selected, split.train, catalog)                     # then train on all
    model.recommend(user_id=1, k=10)       # rank, item_id, score (training items excluded)
    model.score(1, [27205, 155])           # batched scores for given items

The task :func:`workbench.tasks.collaborative.train_collaborative` does all of that, scores
the test split once, and logs and registers the result in MLflow (notebook 03 and
``workbench collaborative train`` call it).
"""

from workbench.collaborative import models as _models  # noqa: F401  (registers the built-ins)
from workbench.collaborative.base import (
    CollabConfig,
    CollaborativeError,
    CollaborativeModel,
    FactorModel,
    FitContext,
    IdMap,
    Interactions,
    ModelParams,
    is_trained,
    make_config,
    model_dir,
)
from workbench.collaborative.registry import (
    describe_models,
    model_class,
    model_names,
    register,
)
from workbench.collaborative.training import refit, train, validation_split

__all__ = [
    "CollabConfig",
    "CollaborativeError",
    "CollaborativeModel",
    "FactorModel",
    "FitContext",
    "IdMap",
    "Interactions",
    "ModelParams",
    "describe_models",
    "is_trained",
    "make_config",
    "model_class",
    "model_dir",
    "model_names",
    "refit",
    "register",
    "train",
    "validation_split",
]
