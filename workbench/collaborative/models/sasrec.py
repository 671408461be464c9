"""SASRec, self-attentive sequential recommendation in Keras (Kang & McAuley, ICDM 2018).

A user is the sequence of their training items in time order (the latest ``maxlen``; ties
in time broken by item index, so the order does not depend on the rows' order). The
network, as in the paper and its reference code:

- item embedding (scaled by ``sqrt(hidden)``) + a learned positional embedding, dropout,
  padding positions zeroed;
- ``blocks`` self-attention blocks: layer norm, causal single-head attention (``heads``)
  over the non-padding positions with a residual, layer norm, a point-wise feed-forward
  network (two ``hidden``-wide layers, ReLU, dropout) with a residual; a final layer norm;
- training: at every position the next item against one sampled negative (an item the user
  never had in training, drawn afresh each epoch), binary cross-entropy over the real
  positions; Adam (``beta_2 = 0.98``, the reference code's), ``batch_size`` users a step,
  each user once an epoch;
- scoring: the final position's representation of the user's whole training sequence, dot
  product with every item embedding.

The one difference from the reference code: Keras' attention layer has an output
projection (one ``hidden x hidden`` matrix per block) that the original lacks.

Early stopping as the NCF models: full-ranking NDCG@10 on the validation split after every
epoch, ``patience`` epochs, best weights kept and the best epoch recorded for the refit.
A dataset without timestamps is refused in one line (the model's input is an order).
Keras is imported only when the model trains or loads.
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import Field, model_validator

from workbench.collaborative.base import (
    CollaborativeModel,
    FitContext,
    Interactions,
    ModelParams,
    train_epochs,
)
from workbench.collaborative.capacity import Cost
from workbench.collaborative.errors import CollaborativeError
from workbench.collaborative.registry import register
from workbench.console import import_keras
from workbench.data.sampling import sample_negatives

_SCORE_BATCH = 256
"""Users per forward pass when scoring."""
STEP_SECONDS = 1e-9
"""Seconds per unit of a training step's work (batch x maxlen x blocks x (hidden^2 + maxlen x
hidden)) on 2 cores: movies' defaults measured ~0.6 s a step (5 steps and a validation pass,
~6 s an epoch, on 2 shared cores)."""


def item_sequences(data: Interactions, length: int) -> np.ndarray:
    """``(n_users, length)`` int32: each user's latest ``length`` items of ``data`` in time
    order (item index + 1; 0 pads on the left, so the last column is the latest item)."""
    if data.timestamp is None:
        raise CollaborativeError("the interactions have no timestamps")
    order = np.lexsort((data.item, data.timestamp, data.user))
    users, items = data.user[order], data.item[order].astype(np.int32) + 1
    counts = np.bincount(users, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    from_end = counts[users] - (np.arange(len(users)) - starts[users])  # 1 = the latest
    keep = from_end <= length
    out = np.zeros((data.n_users, length), np.int32)
    out[users[keep], length - from_end[keep]] = items[keep]
    return out


@functools.cache
def _network_class():
    """The Keras network class (defined on first use, so Keras loads only when needed)."""
    keras = import_keras()
    ops = keras.ops
    layers = keras.layers

    class SASRecNetwork(keras.Model):
        """Item sequences ``(batch, maxlen)`` -> hidden states ``(batch, maxlen, hidden)``."""

        def __init__(self, n_items: int, maxlen: int, hidden: int, blocks: int, heads: int,
                     dropout: float) -> None:
            super().__init__(name="sasrec")
            self.hidden, self.maxlen = hidden, maxlen
            init = keras.initializers.GlorotUniform()
            self.item_embedding = layers.Embedding(n_items + 1, hidden,
                                                   embeddings_initializer=init,
                                                   name="item_embedding")
            self.position_embedding = layers.Embedding(maxlen, hidden,
                                                       embeddings_initializer=init,
                                                       name="position_embedding")
            self.dropout = layers.Dropout(dropout)
            self.blocks = []
            for n in range(blocks):
                self.blocks.append({
                    "norm_attention": layers.LayerNormalization(epsilon=1e-8,
                                                                name=f"block{n}_norm1"),
                    "attention": layers.MultiHeadAttention(heads, hidden // heads,
                                                           dropout=dropout,
                                                           name=f"block{n}_attention"),
                    "norm_ffn": layers.LayerNormalization(epsilon=1e-8,
                                                          name=f"block{n}_norm2"),
                    "ffn1": layers.Dense(hidden, activation="relu", name=f"block{n}_ffn1"),
                    "ffn2": layers.Dense(hidden, name=f"block{n}_ffn2"),
                    "drop1": layers.Dropout(dropout), "drop2": layers.Dropout(dropout),
                })
            self.norm = layers.LayerNormalization(epsilon=1e-8, name="final_norm")

        def call(self, sequence, training=False):
            real = ops.not_equal(sequence, 0)
            mask = ops.expand_dims(ops.cast(real, "float32"), -1)
            positions = self.position_embedding(ops.arange(self.maxlen))
            x = self.item_embedding(sequence) * (self.hidden ** 0.5) + positions[None]
            x = self.dropout(x, training=training) * mask
            # a position attends to itself and earlier real positions (keys of padding off)
            keys = ops.repeat(ops.expand_dims(real, 1), self.maxlen, axis=1)
            for block in self.blocks:
                query = block["norm_attention"](x)
                x = query + block["attention"](query, x, x, attention_mask=keys,
                                               use_causal_mask=True, training=training)
                x = block["norm_ffn"](x)
                h = block["drop1"](block["ffn1"](x), training=training)
                x = (x + block["drop2"](block["ffn2"](h), training=training)) * mask
            return self.norm(x)

    return SASRecNetwork


class SASRecParams(ModelParams):
    maxlen: int = Field(200, ge=2)
    """Longest sequence the model reads (a user's latest items): 200 for dense data such as
    MovieLens (the paper's ML-1M value), 50 for sparse data."""
    hidden: int = Field(50, gt=0)
    """Embedding and hidden size (a multiple of ``heads``)."""
    blocks: int = Field(2, ge=1)
    """Self-attention blocks."""
    heads: int = Field(1, ge=1)
    """Attention heads."""
    dropout: float = Field(0.2, ge=0, lt=1)
    """Dropout on embeddings, attention weights and the feed-forward layers."""
    l2: float = Field(0.0, ge=0)
    """L2 penalty on the item embeddings of each batch (the paper: 0 on MovieLens)."""
    lr: float = Field(0.001, gt=0)
    """Adam learning rate."""
    batch_size: int = Field(128, gt=0)
    """Users (sequences) per gradient step."""
    epochs: int = Field(100, gt=0)
    """Most epochs (every user once each); early stopping may end sooner. The paper trains
    200 on ML-1M."""
    patience: int = Field(20, ge=1)
    """Epochs without improvement in validation NDCG@10 before stopping (on movies the
    validation NDCG plateaus from epoch 5 to 25, then climbs again to epoch 60)."""

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> SASRecParams:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads "
                             f"({self.heads})")
        return self


@register
class SASRec(CollaborativeModel):
    name = "sasrec"
    summary = "self-attentive sequential recommendation (Kang & McAuley 2018), Keras"
    Params = SASRecParams
    iterative = True
    network = None
    sequences: np.ndarray
    """``(n_users, maxlen)``: each user's latest training items, what scoring reads."""

    @classmethod
    def cost(cls, params, shape) -> Cost:
        """Memory: the network's weights with gradients and Adam's moments, one step's
        activations (``batch x maxlen x hidden`` per layer, ``batch x heads x maxlen^2``
        attention weights), the users' sequences (inputs, targets, negatives) and one
        scoring block. Time: epochs x steps x a step's work (positions x (hidden^2 +
        maxlen x hidden) per block), at :data:`STEP_SECONDS`."""
        d, length = params.hidden, params.maxlen
        weights = (shape.items + 1 + length) * d + params.blocks * (6 * d * d + 10 * d)
        activations = params.batch_size * params.blocks * (
            30 * length * d + 4 * params.heads * length * length)
        sequences = 4 * shape.users * (length + 1)
        memory = 4.0 * (4 * weights + 3 * activations + sequences
                        + _SCORE_BATCH * shape.items)
        steps = params.epochs * -(-shape.users // params.batch_size)
        work = params.batch_size * length * params.blocks * (d * d + length * d)
        scoring = params.epochs * shape.users * shape.items * d * 1e-10
        return Cost(memory, steps * work * STEP_SECONDS + scoring)

    def _build(self):
        p = self.params
        network = _network_class()(self.n_items, p.maxlen, p.hidden, p.blocks, p.heads,
                                   p.dropout)
        network(np.zeros((1, p.maxlen), np.int32))  # creates the weights
        return network

    def fit(self, train: Interactions, validation: Interactions | None,
            context: FitContext) -> None:
        if train.timestamp is None or np.isnan(train.timestamp).all():
            raise CollaborativeError(
                f"sasrec needs each user's interactions in time order, and dataset "
                f"{context.dataset!r} has no timestamps; choose a dataset with timestamps "
                f"(movies, ml1m) or a model that ignores order (ease, ials, ...)")
        keras = import_keras()
        keras.utils.set_random_seed(context.seed)
        p = self.params
        self.network = self._build()
        self.sequences = item_sequences(train, p.maxlen)
        self.history = self._loop(train, context)

    def _loop(self, train: Interactions, context: FitContext) -> dict[str, list[float]]:
        import tensorflow as tf

        keras = import_keras()
        p, net = self.params, self.network
        rng = np.random.default_rng(context.seed)
        full = item_sequences(train, p.maxlen + 1)
        inputs, targets = full[:, :-1], full[:, 1:]
        active = np.flatnonzero((inputs != 0).any(axis=1))  # users with a next item
        seen = np.unique(train.user.astype(np.int64) * self.n_items + train.item)
        optimizer = keras.optimizers.Adam(p.lr, beta_2=0.98)
        variables = net.trainable_variables

        @tf.function(reduce_retracing=True)
        def step(inp, pos, neg):
            with tf.GradientTape() as tape:
                h = net(inp, training=True)
                table = net.item_embedding.embeddings
                pos_e, neg_e = tf.gather(table, pos), tf.gather(table, neg)
                pos_logit = tf.reduce_sum(h * pos_e, -1)
                neg_logit = tf.reduce_sum(h * neg_e, -1)
                real = tf.cast(inp != 0, tf.float32)
                loss = tf.reduce_sum((tf.nn.softplus(-pos_logit) + tf.nn.softplus(neg_logit))
                                     * real) / tf.maximum(tf.reduce_sum(real), 1.0)
                if p.l2:
                    loss += p.l2 * (tf.reduce_sum(pos_e ** 2) + tf.reduce_sum(neg_e ** 2))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables,
                                          strict=True))
            return loss

        fixed = context.fixed_epochs
        by_ndcg = fixed is None and context.validation_metric is not None
        def run_epoch() -> float:
            rows, cols = np.nonzero(inputs[active])
            _, drawn = sample_negatives(active[rows], self.n_items, seen, 1, rng)
            negatives = np.zeros((len(active), p.maxlen), np.int32)
            negatives[rows, cols] = drawn + 1
            order = rng.permutation(len(active))
            losses = []
            for start in range(0, len(order), p.batch_size):
                batch = order[start:start + p.batch_size]
                users = active[batch]
                losses.append(float(step(inputs[users], targets[users], negatives[batch])))
            return float(np.mean(losses)) if losses else 0.0

        history = train_epochs(context, fixed or p.epochs, p.patience, by_ndcg, run_epoch, self,
                               net.get_weights, net.set_weights)
        return history

    # -- scoring and persistence -------------------------------------------------------------

    def user_states(self, users: np.ndarray) -> np.ndarray:
        """The final position's hidden state for each of ``users`` (indices): ``(len(users),
        hidden)`` float32, from their whole training sequence."""
        users = np.asarray(users, np.int64).reshape(-1)
        out = np.empty((len(users), self.params.hidden), np.float32)
        states = self._final_states()
        for start in range(0, len(users), _SCORE_BATCH):
            block = self.sequences[users[start:start + _SCORE_BATCH]]
            out[start:start + len(block)] = np.asarray(states(block), np.float32)
        return out

    def _final_states(self):
        """The network's final-position states as one traced function of a block of
        sequences, made once per network: an eager Keras call per block took twice as long
        (half of each epoch's validation pass on ml1m)."""
        if getattr(self, "_states_of", None) is not self.network:
            import tensorflow as tf

            network = self.network
            self._states = tf.function(lambda block: network(block, training=False)[:, -1, :],
                                       reduce_retracing=True)
            self._states_of = network
        return self._states

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Dot products of each user's state with every item embedding."""
        table = np.asarray(self.network.item_embedding.embeddings, np.float32)[1:]
        return self.user_states(users) @ table.T

    def _weights(self) -> dict[str, np.ndarray]:
        arrays = {f"w{n:03d}": w for n, w in enumerate(self.network.get_weights())}
        return {"sequences": self.sequences, **arrays}

    def _restore(self, weights) -> None:
        self.sequences = weights["sequences"]
        self.network = self._build()
        self.network.set_weights([weights[k] for k in sorted(weights) if k.startswith("w")])
