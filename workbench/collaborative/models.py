"""Keras models of the collaborative engine: MF, GMF, MLP, NeuMF (He et al., 2017).

Every model maps ``(user_index, item_index)`` to one score: a probability (``implicit``
objective, binary cross-entropy with sampled negatives) or a rating (``explicit`` objective,
mean squared error; the output is ``global_mean + raw``, so an untrained model predicts the
global mean).

- ``mf``: biased matrix factorisation, ``b + b_u + b_i + p_u . q_i`` (the strong baseline).
- ``gmf``: element-wise product of user and item embeddings, then a learned linear layer.
- ``mlp``: concatenated embeddings through a tower of dense layers.
- ``neumf``: GMF and MLP branches with separate embeddings, concatenated into the output layer;
  optionally initialised from trained GMF and MLP models (the paper's pre-training).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

NEURAL_MODELS = ("mf", "gmf", "mlp", "neumf")


def _embedding(n: int, dim: int, l2: float, name: str) -> keras.layers.Embedding:
    return keras.layers.Embedding(
        n, dim, name=name, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
        embeddings_regularizer=keras.regularizers.L2(l2) if l2 else None,
    )


def _output(x, objective: str, global_mean: float, name: str = "score"):
    if objective == "implicit":
        return keras.layers.Dense(1, activation="sigmoid", name=name)(x)
    raw = keras.layers.Dense(1, name=f"{name}_raw")(x)
    return keras.layers.Rescaling(1.0, offset=global_mean, name=name)(raw)


def build_model(
    kind: str, n_users: int, n_items: int, objective: str = "implicit", factors: int = 16,
    mlp_layers: tuple[int, ...] = (64, 32, 16), dropout: float = 0.0, l2: float = 0.0,
    global_mean: float = 0.0,
) -> keras.Model:
    """An uncompiled model of ``kind`` (one of :data:`NEURAL_MODELS`)."""
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
        raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(NEURAL_MODELS)}")
    x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(name="neumf_concat")(
        branches)
    return keras.Model([user, item], _output(x, objective, global_mean), name=kind)


def init_neumf_from(neumf: keras.Model, gmf: keras.Model, mlp: keras.Model,
                    alpha: float = 0.5) -> None:
    """Copy trained GMF and MLP weights into NeuMF (the NCF paper's pre-training).

    Embeddings and MLP layers are copied; the output layer is ``[alpha * h_gmf,
    (1 - alpha) * h_mlp]`` with the bias averaged.
    """
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
