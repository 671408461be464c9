"""Neural Collaborative Filtering in Keras (He et al., WWW 2017): MF, GMF, MLP, NeuMF.

Every model maps ``(user_index, item_index)`` to one score: a probability (``implicit``
objective, binary cross-entropy with sampled negatives) or a rating (``explicit`` objective,
mean squared error; the output is ``global_mean + raw``, so an untrained model predicts the
global mean).

- ``mf``: biased matrix factorisation, ``b + b_u + b_i + p_u . q_i``.
- ``gmf``: element-wise product of user and item embeddings, then a learned linear layer.
- ``mlp``: concatenated embeddings through a tower of dense layers.
- ``neumf``: GMF and MLP branches with separate embeddings, concatenated into the output layer;
  optionally initialised from trained GMF and MLP models (the paper's pre-training).

Training (one loop for all four):

- Implicit: every training rating is a positive; ``negatives`` items per positive are drawn
  afresh each epoch from the items the user has not rated, uniformly or in proportion to
  ``popularity ** 0.75`` (``negative_sampling``): uniform draws over a catalog where most
  items were never rated teach the model little beyond "unrated items are bad".
- Early stopping on the validation split (``patience`` epochs): by its full-ranking NDCG@10
  (``early_stopping="ndcg"``, the metric models are chosen by) or its loss; the best weights
  are kept and the best epoch recorded, so a refit on the whole training split trains exactly
  that many epochs. Explicit models always stop on the validation loss (MSE).
- Input through ``tf.data``; 64 steps per ``tf.function`` call (``steps_per_execution``).

Keras is imported only when a model of this module trains or loads.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from workbench.collaborative.base import (
    CollaborativeModel,
    FitContext,
    Interactions,
    ModelParams,
)
from workbench.collaborative.capacity import Cost
from workbench.collaborative.registry import register
from workbench.console import import_keras
from workbench.data.sampling import sample_negatives

_SCORE_CHUNK = 262144


def _embedding(n: int, dim: int, l2: float, name: str):
    keras = import_keras()

    return keras.layers.Embedding(
        n, dim, name=name, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
        embeddings_regularizer=keras.regularizers.L2(l2) if l2 else None,
    )


def _output(x, objective: str, global_mean: float, name: str = "score"):
    keras = import_keras()

    if objective == "implicit":
        return keras.layers.Dense(1, activation="sigmoid", name=name)(x)
    raw = keras.layers.Dense(1, name=f"{name}_raw")(x)
    return keras.layers.Rescaling(1.0, offset=global_mean, name=name)(raw)


def build_model(
    kind: str, n_users: int, n_items: int, objective: str = "implicit", factors: int = 16,
    mlp_layers: tuple[int, ...] = (64, 32, 16), dropout: float = 0.0, l2: float = 0.0,
    global_mean: float = 0.0,
):
    """An uncompiled ``keras.Model`` of ``kind`` (mf, gmf, mlp or neumf)."""
    keras = import_keras()

    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    if kind == "mf":
        p = _embedding(n_users, factors, l2, "mf_user")(user)
        q = _embedding(n_items, factors, l2, "mf_item")(item)
        bu = keras.layers.Flatten()(_embedding(n_users, 1, l2, "user_bias")(user))
        bi = keras.layers.Flatten()(_embedding(n_items, 1, l2, "item_bias")(item))
        dot = keras.layers.Dot(axes=1)([p, q])
        logit = keras.layers.Add()([dot, bu, bi])
        # One weight initialised at 1 (a global scale) whose bias is the global bias b.
        dense = keras.layers.Dense(1, name="score_raw" if objective == "explicit" else "score",
                                   activation="sigmoid" if objective == "implicit" else None,
                                   kernel_initializer="ones", trainable=True)
        out = dense(logit)
        if objective == "explicit":
            out = keras.layers.Rescaling(1.0, offset=global_mean, name="score")(out)
        return keras.Model([user, item], out, name="mf")
    branches = []
    if kind in ("gmf", "neumf"):
        gu = _embedding(n_users, factors, l2, "gmf_user")(user)
        gi = _embedding(n_items, factors, l2, "gmf_item")(item)
        branches.append(keras.layers.Multiply(name="gmf_product")([gu, gi]))
    if kind in ("mlp", "neumf"):
        mu = _embedding(n_users, mlp_layers[0] // 2, l2, "mlp_user")(user)
        mi = _embedding(n_items, mlp_layers[0] // 2, l2, "mlp_item")(item)
        h = keras.layers.Concatenate(name="mlp_concat")([mu, mi])
        for n, width in enumerate(mlp_layers[1:], start=1):
            h = keras.layers.Dense(width, activation="relu", name=f"mlp_dense_{n}",
                                   kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)(h)
            if dropout:
                h = keras.layers.Dropout(dropout, name=f"mlp_dropout_{n}")(h)
        branches.append(h)
    if not branches:
        raise ValueError(f"unknown model {kind!r}; choose one of mf, gmf, mlp, neumf")
    x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(name="neumf_concat")(
        branches)
    return keras.Model([user, item], _output(x, objective, global_mean), name=kind)


def init_neumf_from(neumf, gmf, mlp, alpha: float = 0.5) -> None:
    """Copy trained GMF and MLP weights into NeuMF (the NCF paper's pre-training).

    Embeddings and MLP layers are copied; the output layer is ``[alpha * h_gmf,
    (1 - alpha) * h_mlp]`` with the bias averaged.
    """
    keras = import_keras()

    for name in ("gmf_user", "gmf_item"):
        neumf.get_layer(name).set_weights(gmf.get_layer(name).get_weights())
    for layer in mlp.layers:
        if layer.name.startswith(("mlp_user", "mlp_item", "mlp_dense_")):
            neumf.get_layer(layer.name).set_weights(layer.get_weights())
    out_name = "score" if neumf.get_layer("score").weights else "score_raw"
    g_w, g_b = gmf.get_layer(out_name).get_weights()
    m_w, m_b = mlp.get_layer(out_name).get_weights()
    neumf.get_layer(out_name).set_weights(
        [keras.ops.convert_to_numpy(keras.ops.concatenate([alpha * g_w, (1 - alpha) * m_w], 0)),
         alpha * g_b + (1 - alpha) * m_b]
    )


class _TrainingParams(ModelParams):
    l2: float = Field(0.0, ge=0)
    """L2 penalty on embeddings and dense kernels."""
    lr: float = Field(0.001, gt=0)
    """Adam learning rate."""
    batch_size: int = Field(256, gt=0)
    """Training examples (positives and negatives) per gradient step."""
    epochs: int = Field(20, gt=0)
    """Most epochs; early stopping usually ends sooner."""
    negatives: int = Field(4, ge=1)
    """Sampled negatives per positive (implicit objective)."""
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    """Draw negatives uniformly, or in proportion to training popularity ** 0.75."""
    patience: int = Field(3, ge=1)
    """Epochs without improvement on the validation split before stopping."""
    early_stopping: Literal["ndcg", "loss"] = "ndcg"
    """Validation signal: full-ranking NDCG@10 (implicit only) or the loss."""


class _NCF(CollaborativeModel):
    """The shared training loop, scoring and persistence of the Keras models."""

    objectives = ("implicit", "explicit")
    iterative = True
    keras_model = None

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """Embeddings with Adam's two moments, one epoch's examples (positives and sampled
        negatives: user, item, label) and TensorFlow's copies of them; time from ~1 s an
        epoch per 100k examples (Keras on 2 cores)."""
        width = getattr(params, "factors", 16) + (params.mlp_layers[0] if hasattr(
            params, "mlp_layers") else 0)
        examples = shape.interactions * (1 + getattr(params, "negatives", 4))
        memory = 3 * 4.0 * (shape.users + shape.items) * width + 3 * 20.0 * examples
        return Cost(memory, params.epochs * examples * 1e-5)

    def _build(self, n_users: int, n_items: int, global_mean: float):
        p = self.params
        return build_model(self.name, n_users, n_items, self.config.objective,
                           getattr(p, "factors", 16), tuple(getattr(p, "mlp_layers",
                                                                    (64, 32, 16))),
                           getattr(p, "dropout", 0.0), p.l2, global_mean)

    def _compile(self, model) -> None:
        keras = import_keras()

        loss = "binary_crossentropy" if self.config.objective == "implicit" else "mse"
        # 64 steps per tf.function call: the same updates (losses identical, measured), about
        # a third less time per epoch: these small models are dominated by per-step overhead.
        model.compile(optimizer=keras.optimizers.Adam(self.params.lr), loss=loss,
                      steps_per_execution=64)

    def _init_weights(self, model, train: Interactions, validation: Interactions | None,
                      context: FitContext) -> None:
        """Hook for NeuMF's pre-training."""

    def fit(self, train: Interactions, validation: Interactions | None,
            context: FitContext) -> None:
        keras = import_keras()

        keras.utils.set_random_seed(context.seed)
        global_mean = float(train.rating.mean()) if len(train) else 0.0
        model = self._build(train.n_users, train.n_items, global_mean)
        self._init_weights(model, train, validation, context)
        self._compile(model)
        self.keras_model = model
        self.history = self._loop(train, validation, context)

    def _loop(self, train: Interactions, validation: Interactions | None,
              context: FitContext) -> dict[str, list[float]]:
        import tensorflow as tf

        p, objective = self.params, self.config.objective
        rng = np.random.default_rng(context.seed)
        n_items = train.n_items
        # Negatives avoid the training items only: excluding the validation items too would
        # tell the model which items those are (a leak that doubled MF's validation NDCG with
        # popularity-weighted negatives, and vanished on the test split).
        seen = np.unique(train.user * n_items + train.item)
        weights = None
        if p.negative_sampling == "popularity":
            counts = np.bincount(train.item, minlength=n_items).astype(np.float64) ** 0.75
            weights = counts / counts.sum() if counts.sum() else None

        def arrays(data: Interactions, negative_rng):
            if objective == "explicit":
                return data.user, data.item, data.rating.astype(np.float32)
            nu, ni = sample_negatives(data.user, n_items, seen, p.negatives, negative_rng,
                                      weights)
            return (np.concatenate([data.user, nu]), np.concatenate([data.item, ni]),
                    np.concatenate([np.ones(len(data)), np.zeros(len(nu))]).astype(np.float32))

        fixed = context.fixed_epochs
        by_ndcg = (fixed is None and validation is not None and objective == "implicit"
                   and p.early_stopping == "ndcg" and context.validation_metric is not None)
        by_loss = fixed is None and validation is not None and len(validation) and not by_ndcg
        val = arrays(validation, np.random.default_rng(context.seed + 1)) if by_loss else None
        history: dict[str, list[float]] = {"loss": []}
        best, best_weights, best_epoch, waited = -np.inf, None, 0, 0
        for epoch in range(1, (fixed or p.epochs) + 1):
            u, i, y = arrays(train, rng)
            order = rng.permutation(len(u))
            ds = tf.data.Dataset.from_tensor_slices(
                ({"user": u[order].astype(np.int32), "item": i[order].astype(np.int32)},
                 y[order])).batch(p.batch_size).prefetch(tf.data.AUTOTUNE)
            fit = self.keras_model.fit(ds, epochs=1, verbose=context.verbose, shuffle=False)
            history["loss"].append(float(fit.history["loss"][-1]))
            if by_ndcg:
                value = float(context.validation_metric(self))
                history.setdefault("val_ndcg_at_10", []).append(value)
            elif by_loss:
                value = -float(self.keras_model.evaluate(
                    {"user": val[0].astype(np.int32), "item": val[1].astype(np.int32)}, val[2],
                    batch_size=65536, verbose=0))
                history.setdefault("val_loss", []).append(-value)
            else:
                context.report(f"epoch {epoch}/{fixed or p.epochs}, "
                               f"loss {history['loss'][-1]:.4f}")
                continue
            name = "val NDCG@10" if by_ndcg else "val loss"
            context.report(f"epoch {epoch}/{fixed or p.epochs}, {name} {abs(value):.4f}")
            if value > best + 1e-6:
                best, best_weights, best_epoch, waited = (
                    value, self.keras_model.get_weights(), epoch, 0)
            else:
                waited += 1
                if waited >= p.patience:
                    break
        if best_weights is not None:
            self.keras_model.set_weights(best_weights)
        history["best_epoch"] = [float(best_epoch or len(history["loss"]))]
        return history

    # -- scoring and persistence -------------------------------------------------------------

    def score_indices(self, user_index, item_index) -> np.ndarray:
        """Scores of index pairs through ``predict_on_batch`` in chunks of 262,144 pairs
        (``predict`` costs about 90 ms a call in set-up alone)."""
        users = np.asarray(user_index, np.int32).reshape(-1)
        items = np.asarray(item_index, np.int32).reshape(-1)
        out = np.empty(len(users), np.float32)
        for start in range(0, len(users), _SCORE_CHUNK):
            part = slice(start, start + _SCORE_CHUNK)
            scores = self.keras_model.predict_on_batch({"user": users[part],
                                                        "item": items[part]})
            out[part] = np.asarray(scores, np.float32).reshape(-1)
        return out

    def score_users(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, np.int64)
        n = self.n_items
        scores = self.score_indices(np.repeat(users, n), np.tile(np.arange(n), len(users)))
        return scores.reshape(len(users), n)

    def _save_weights(self, folder) -> None:
        self.keras_model.save(folder / "model.keras")

    def _load_weights(self, folder) -> None:
        keras = import_keras()

        self.keras_model = keras.saving.load_model(folder / "model.keras", safe_mode=True)


class _FactorParams(_TrainingParams):
    factors: int = Field(16, gt=0)
    """Embedding size (of the GMF branch, for NeuMF)."""


class _TowerParams(_TrainingParams):
    mlp_layers: tuple[Annotated[int, Field(ge=2)], ...] = Field((64, 32, 16), min_length=1)
    """MLP tower widths (each at least 2); the first is the concatenated user+item
    embedding size, so each embedding is half of it."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout after each tower layer."""


@register
class MF(_NCF):
    name = "mf"
    summary = "biased matrix factorisation b + b_u + b_i + p_u.q_i, Keras"
    Params = _FactorParams


@register
class GMF(_NCF):
    name = "gmf"
    summary = "generalized matrix factorisation (NCF), Keras"
    Params = _FactorParams


@register
class MLP(_NCF):
    name = "mlp"
    summary = "MLP tower over user and item embeddings (NCF), Keras"
    Params = _TowerParams


class _NeuMFParams(_FactorParams, _TowerParams):
    pretrain: bool = False
    """Initialise from GMF and MLP trained with the same settings (the NCF paper)."""


@register
class NeuMF(_NCF):
    name = "neumf"
    summary = "GMF + MLP branches fused (He et al. 2017), optional pre-training, Keras"
    Params = _NeuMFParams

    def _init_weights(self, model, train: Interactions, validation: Interactions | None,
                      context: FitContext) -> None:
        """Train GMF and MLP with the same settings (and the same early stopping or fixed
        epoch count: a refit trains both parts for NeuMF's best epoch count, not the counts
        they would have chosen alone), then copy their weights in."""
        if not self.params.pretrain:
            return
        from workbench.collaborative.base import make_config
        from workbench.collaborative.registry import model_class

        parts = {}
        for kind in ("gmf", "mlp"):
            cls = model_class(kind)
            params = {k: v for k, v in self.config.params.items() if k in cls.Params.model_fields}
            config = make_config(**{**self.config.model_dump(), "model": kind,
                                    "params": params})
            part = cls(config, self.ids, self.seen)
            part.fit(train, validation, context)
            parts[kind] = part.keras_model
        init_neumf_from(model, parts["gmf"], parts["mlp"])
