"""Collaborative engine: NCF (GMF, MLP, NeuMF) in Keras, and honest baselines (popularity, MF).

::

    from workbench import data
    from workbench.collaborative import CollabConfig, train
    split = data.load_split("movies", "leave_last_out")
    model = train(CollabConfig(dataset="movies", model="neumf"), split.train,
                  data.load_items("movies")["item_id"].to_numpy())
    model.recommend(user_id=1, k=10)           # rank, item_id, score (training items excluded)
    model.score(1, [27205, 155])               # batched scores for given items
"""

from workbench.collaborative.model import (
    MODEL_KINDS,
    CollabConfig,
    CollaborativeError,
    CollaborativeModel,
    IdMap,
    is_trained,
    model_dir,
    sample_negatives,
    train,
)

__all__ = [
    "MODEL_KINDS",
    "CollabConfig",
    "CollaborativeError",
    "CollaborativeModel",
    "IdMap",
    "is_trained",
    "model_dir",
    "sample_negatives",
    "train",
]
