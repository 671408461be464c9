"""Tabular branch: a scikit-learn ColumnTransformer feeding a Keras autoencoder.

The preprocessor turns item metadata into a dense feature row: multi-hot genres, one-hot top-N
languages and item types (the rest grouped as infrequent), and standardised runtime,
log-popularity, log-vote-count, weighted rating and year (median-imputed, with missing
indicators). The autoencoder compresses it to ``latent_dim`` (default 32); its encoder's
output, L2-normalised, is the item's tabular code.

Persistence never executes code on load: the encoder is a ``.keras`` file (Keras' safe mode
refuses lambda layers), the preprocessor a skops file loaded with an explicit allow-list of
types (anything else is refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import WorkbenchError
from workbench.console import import_keras
from workbench.storage import atomic_path

SKOPS_ALLOWED_TYPES = frozenset({"numpy.dtype"})
"""Types beyond skops' defaults that our preprocessor contains (CountVectorizer's dtype)."""
NUMERIC_COLUMNS = ["runtime", "log_popularity", "log_vote_count", "weighted_rating", "year"]


class TabularError(WorkbenchError):
    """The tabular preprocessor or autoencoder cannot be built or loaded."""


def tabular_frame(items: pd.DataFrame) -> pd.DataFrame:
    """The preprocessor's input: one row per item, plain dtypes, no lists."""
    return pd.DataFrame(
        {
            "genres": ["|".join(g) for g in items["genres"]],
            "language": items["language"].astype(object).where(items["language"].notna(),
                                                                 "none"),
            "item_type": items["item_type"].astype(object).where(items["item_type"].notna(),
                                                                   "none"),
            "runtime": items["runtime"].astype("float64"),
            "log_popularity": np.log1p(items["popularity"].astype("float64")),
            "log_vote_count": np.log1p(items["vote_count"].astype("float64")),
            "weighted_rating": items["weighted_rating"].astype("float64"),
            "year": items["year"].astype("float64"),
        },
        index=items.index,
    )


def build_preprocessor(top_languages: int = 10):
    """An unfitted ColumnTransformer for :func:`tabular_frame` (sklearn built-ins only)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def one_hot(n: int) -> OneHotEncoder:
        return OneHotEncoder(max_categories=n + 1, handle_unknown="infrequent_if_exist",
                             sparse_output=False)

    return ColumnTransformer(
        [
            ("genres", CountVectorizer(token_pattern=r"[^|]+", lowercase=False, binary=True),
             "genres"),
            ("language", one_hot(top_languages), ["language"]),
            ("item_type", one_hot(8), ["item_type"]),
            ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                    keep_empty_features=True),
                                      StandardScaler()), NUMERIC_COLUMNS),
        ],
        sparse_threshold=0,
    )


def save_preprocessor(preprocessor, path: Path) -> None:
    """Save the fitted preprocessor with skops, atomically."""
    import skops.io as sio

    with atomic_path(path, suffix=".skops") as tmp:
        sio.dump(preprocessor, tmp)


def load_preprocessor(path: Path):
    """Load a preprocessor saved by :func:`save_preprocessor`, refusing unexpected types."""
    import skops.io as sio

    if not path.is_file():
        raise TabularError(f"tabular preprocessor {path} is missing; rebuild the content index")
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
        unexpected = untrusted - SKOPS_ALLOWED_TYPES
        if unexpected:
            raise TabularError(f"{path} holds unexpected types {sorted(unexpected)}; refusing to "
                               f"load it")
        return sio.load(path, trusted=sorted(untrusted))
    except TabularError:
        raise
    except Exception as exc:  # skops raises many types on a damaged zip
        raise TabularError(f"tabular preprocessor {path} is corrupt ({exc})") from None


@dataclass
class AutoencoderResult:
    """A trained encoder and its training history."""

    encoder: object
    history: dict[str, list[float]] = field(default_factory=dict)
    input_dim: int = 0


def train_autoencoder(
    features: np.ndarray, latent_dim: int = 32, hidden: int = 128, epochs: int = 60,
    batch_size: int = 256, seed: int = 42, validation_split: float = 0.1,
) -> AutoencoderResult:
    """Train a dense autoencoder (MSE, Adam, early stopping on validation loss)."""
    keras = import_keras()

    if latent_dim <= 0:
        raise TabularError(f"latent_dim must be positive, got {latent_dim}")
    keras.utils.set_random_seed(seed)
    x = np.asarray(features, dtype=np.float32)
    inputs = keras.Input(shape=(x.shape[1],), name="features")
    h = keras.layers.Dense(hidden, activation="relu")(inputs)
    code = keras.layers.Dense(latent_dim, name="code")(h)
    h2 = keras.layers.Dense(hidden, activation="relu")(code)
    outputs = keras.layers.Dense(x.shape[1])(h2)
    autoencoder = keras.Model(inputs, outputs, name="tabular_autoencoder")
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    use_val = validation_split > 0 and len(x) >= 20
    callbacks = [keras.callbacks.EarlyStopping(
        monitor="val_loss" if use_val else "loss", patience=5, restore_best_weights=True)]
    history = autoencoder.fit(
        x, x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
        validation_split=validation_split if use_val else 0.0, callbacks=callbacks,
    )
    encoder = keras.Model(inputs, code, name="tabular_encoder")
    return AutoencoderResult(encoder, {k: [float(v) for v in vals]
                                       for k, vals in history.history.items()}, x.shape[1])


def encode(encoder, features: np.ndarray) -> np.ndarray:
    """Tabular codes of ``features`` (float32, not yet normalised)."""
    return np.asarray(encoder.predict(np.asarray(features, np.float32), verbose=0,
                                      batch_size=1024), dtype=np.float32)


def save_encoder(encoder, path: Path) -> None:
    """Save the Keras encoder as ``.keras``, atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        encoder.save(tmp)


def load_encoder(path: Path):
    """Load an encoder saved by :func:`save_encoder` (Keras safe mode)."""
    keras = import_keras()

    if not path.is_file():
        raise TabularError(f"tabular encoder {path} is missing; rebuild the content index")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises several types on a damaged archive
        raise TabularError(f"tabular encoder {path} is corrupt ({exc})") from None
