"""Mult-VAE: a variational autoencoder with a multinomial likelihood (Liang et al., WWW 2018).

A user is the binary row of the items they interacted with. The encoder reads the row
L2-normalised, with dropout on the input (0.5), through a ``hidden``-wide tanh layer into the
mean and log-variance of a ``latent``-dimensional Gaussian; the decoder maps a sample
``z`` through a ``hidden``-wide tanh layer to one logit per catalog item. Training maximises
the annealed evidence lower bound, per user:

``sum_i x_i log softmax(f(z))_i - beta * KL(q(z|x) || N(0, I))``

with ``beta`` raised linearly from 0 by ``beta_max / anneal_steps`` per gradient update up
to ``beta_max`` (the paper's KL annealing; its code: 0.2 reached after 40,000 of its 200,000
annealing updates, here ``anneal_steps`` is the update count at which ``beta_max`` is
reached), Adam, ``batch_size`` users per update. As in the paper, scoring uses the mean
``z = mu`` and no dropout: a user's scores are the decoder's logits for their training row
(the softmax would not change the order).

Training is a Keras model under a ``tf.GradientTape`` loop; early stopping on the validation
users' NDCG@10 keeps the best epoch, so a refit trains exactly that many epochs (the annealing
schedule then replays identically). The trained weights are saved as ``weights.npz`` and
scored with numpy (no Keras import to load or score; a test checks the numpy forward pass
against Keras'). A new user is folded in from their liked items (cold start) the same way.

Cost: two ``items x hidden`` matrices (with Adam's moments and the best epoch's copy) and one
dense ``batch_size x items`` block per update; every update computes the softmax over the
whole catalog, so time grows with users x items x hidden.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from workbench.collaborative.base import (
    CollaborativeModel,
    FitContext,
    Interactions,
    ModelParams,
    train_epochs,
)
from workbench.collaborative.capacity import Cost, sparse_bytes
from workbench.collaborative.models.ease import history_rows, liked_row
from workbench.collaborative.registry import register
from workbench.console import import_keras

_WEIGHTS = ("enc_w", "enc_b", "stats_w", "stats_b", "dec_w", "dec_b", "out_w", "out_b")
"""The arrays of a trained Mult-VAE, in the order of its Keras layers' weights."""


def forward(w: dict[str, np.ndarray], x) -> np.ndarray:
    """Decoder logits for the mean code of rows ``x`` (users x items, sparse or dense; no
    dropout): the scores of a trained model."""
    x = x.astype(np.float32)
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1) if hasattr(x, "multiply")
                              else (x * x).sum(axis=1), np.float32)).reshape(-1, 1)
    h = np.tanh(np.asarray(x @ w["enc_w"], np.float32) / np.maximum(norm, 1e-12)
                + w["enc_b"])
    latent = w["dec_w"].shape[0]
    mu = (h @ w["stats_w"] + w["stats_b"])[:, :latent]
    return (np.tanh(mu @ w["dec_w"] + w["dec_b"]) @ w["out_w"] + w["out_b"]).astype(np.float32)


def kl_weight(updates: int, beta_max: float, anneal_steps: int) -> float:
    """The KL term's weight beta after ``updates`` gradient updates: linear from 0 to
    ``beta_max`` over ``anneal_steps`` updates, then ``beta_max`` (0 steps: from the start)."""
    if anneal_steps <= 0:
        return float(beta_max)
    return float(min(beta_max, beta_max * updates / anneal_steps))


def build_networks(n_items: int, hidden: int, latent: int, dropout: float):
    """The uncompiled Keras encoder (items -> ``2 * latent``: mean and log-variance, with the
    L2 normalisation and input dropout) and decoder (``latent`` -> item logits)."""
    keras = import_keras()

    x = keras.Input(shape=(n_items,), name="history")
    h = keras.layers.UnitNormalization(name="l2_normalise")(x)
    h = keras.layers.Dropout(dropout, name="input_dropout")(h)
    h = keras.layers.Dense(hidden, activation="tanh", name="enc")(h)
    stats = keras.layers.Dense(2 * latent, name="stats")(h)
    encoder = keras.Model(x, stats, name="multvae_encoder")
    z = keras.Input(shape=(latent,), name="z")
    h = keras.layers.Dense(hidden, activation="tanh", name="dec")(z)
    logits = keras.layers.Dense(n_items, name="out")(h)
    decoder = keras.Model(z, logits, name="multvae_decoder")
    return encoder, decoder


@register
class MultVAE(CollaborativeModel):
    name = "multvae"
    summary = "variational autoencoder, multinomial likelihood (Liang et al. 2018), Keras"
    iterative = True
    fallbacks = ("ease", "ials", "popularity")

    class Params(ModelParams):
        hidden: int = Field(600, gt=0)
        """Width of the encoder's and the decoder's tanh layer."""
        latent: int = Field(200, gt=0)
        """Dimension of the latent code z."""
        dropout: float = Field(0.5, ge=0, lt=1)
        """Dropout on the normalised input row while training."""
        beta_max: float = Field(0.2, ge=0)
        """Weight of the KL term once annealed (the paper's anneal cap)."""
        anneal_steps: int = Field(2000, ge=0)
        """Gradient updates over which beta rises linearly from 0 to beta_max (0: beta_max
        from the first update)."""
        epochs: int = Field(200, gt=0)
        """Most epochs (passes over the users); early stopping usually ends sooner."""
        patience: int = Field(50, ge=1)
        """Epochs without improvement of validation NDCG@10 before stopping."""
        lr: float = Field(0.001, gt=0)
        """Adam learning rate."""
        batch_size: int = Field(500, gt=0)
        """Users per gradient update."""

    weights: dict[str, np.ndarray]

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """Weights with Adam's two moments, the gradients and the best epoch's copy (5 float32
        copies), ~8 dense ``batch x items`` float32 blocks per update (input, normalised,
        dropped, logits, softmax and their gradients), the sparse matrix; time from the
        update's multiply-adds (forward and backward, ~3e10 a second on 2 cores: twice the
        0.4 s an epoch measured on movies, validation scoring included)."""
        weights = (2 * shape.items * params.hidden + 3 * params.hidden * params.latent
                   + 2 * params.hidden + 2 * params.latent + shape.items)
        batch = min(params.batch_size, max(1, shape.users))
        memory = (5 * 4.0 * weights + 8 * 4.0 * batch * shape.items
                  + 2 * sparse_bytes(shape.interactions, shape.users))
        per_epoch = 6.0 * shape.users * (2 * shape.items * params.hidden
                                         + 3 * params.hidden * params.latent)
        return Cost(memory, params.epochs * per_epoch / 3e10)

    def fit(self, train: Interactions, validation: Interactions | None,
            context: FitContext) -> None:
        import tensorflow as tf

        keras = import_keras()
        p = self.params
        keras.utils.set_random_seed(context.seed)
        encoder, decoder = build_networks(train.n_items, p.hidden, p.latent, p.dropout)
        optimizer = keras.optimizers.Adam(p.lr)
        noise = keras.random.SeedGenerator(context.seed)
        variables = encoder.trainable_variables + decoder.trainable_variables

        @tf.function(reduce_retracing=True)
        def step(x, beta):
            with tf.GradientTape() as tape:
                stats = encoder(x, training=True)
                mu, logvar = tf.split(stats, 2, axis=1)
                z = mu + tf.exp(0.5 * logvar) * keras.random.normal(tf.shape(mu), seed=noise)
                log_probs = tf.nn.log_softmax(decoder(z, training=True), axis=1)
                nll = -tf.reduce_mean(tf.reduce_sum(log_probs * x, axis=1))
                kl = tf.reduce_mean(tf.reduce_sum(
                    0.5 * (-logvar + tf.exp(logvar) + tf.square(mu) - 1.0), axis=1))
                loss = nll + beta * kl
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables,
                                          strict=True))
            return loss

        matrix = train.matrix("binary")
        active = np.flatnonzero(np.diff(matrix.indptr))  # users with training rows
        rng = np.random.default_rng(context.seed)
        fixed = context.fixed_epochs
        by_ndcg = (fixed is None and validation is not None and len(validation)
                   and context.validation_metric is not None)
        updates = 0

        def run_epoch() -> float:
            nonlocal updates
            order = rng.permutation(active)
            losses = []
            for start in range(0, len(order), p.batch_size):
                rows = order[start:start + p.batch_size]
                beta = kl_weight(updates, p.beta_max, p.anneal_steps)
                losses.append(float(step(tf.constant(matrix[rows].toarray()),
                                         tf.constant(beta, tf.float32))))
                updates += 1
            self.weights = _arrays(encoder, decoder)  # what the validation metric scores
            return float(np.mean(losses)) if losses else 0.0

        history = train_epochs(context, fixed or p.epochs, p.patience, bool(by_ndcg), run_epoch,
                               self, lambda: self.weights,
                               lambda weights: setattr(self, "weights", weights))
        self.history = history

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return forward(self.weights, history_rows(self.seen, np.asarray(users, np.int64),
                                                  self.n_items))

    def score_history(self, liked, items) -> np.ndarray:
        """A new user folded in from ``liked`` items: the decoder's logits for that row."""
        return forward(self.weights, liked_row(liked, self.n_items))[0, np.asarray(items,
                                                                                 np.int64)]

    def _weights(self) -> dict[str, np.ndarray]:
        return dict(self.weights)

    def _restore(self, weights) -> None:
        missing = [name for name in _WEIGHTS if name not in weights]
        if missing:
            raise ValueError(f"weights.npz lacks {missing}")
        self.weights = {name: weights[name] for name in _WEIGHTS}


def _arrays(encoder, decoder) -> dict[str, np.ndarray]:
    """The Keras networks' weights as named numpy arrays (:data:`_WEIGHTS`)."""
    values = [np.asarray(v, np.float32) for v in encoder.get_weights() + decoder.get_weights()]
    return dict(zip(_WEIGHTS, values, strict=True))
