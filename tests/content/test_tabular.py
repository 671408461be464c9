"""Tabular branch: preprocessor persistence without pickle, autoencoder save/load."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.content import tabular
from workbench.data.prepare import PrepareReport, finalize_items
from workbench.data.toy import make_toy


@pytest.fixture(scope="module")
def items():
    return finalize_items(make_toy().items, PrepareReport("toy"))


def test_preprocessor_round_trip_through_skops(items, tmp_path):
    pre = tabular.build_preprocessor()
    features = pre.fit_transform(tabular.tabular_frame(items))
    assert features.shape[0] == len(items) and not np.isnan(features).any()
    tabular.save_preprocessor(pre, tmp_path / "pre.skops")
    loaded = tabular.load_preprocessor(tmp_path / "pre.skops")
    np.testing.assert_allclose(loaded.transform(tabular.tabular_frame(items)), features)


def test_preprocessor_with_unexpected_types_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    sio.dump(FunctionTransformer(tabular.tabular_frame), tmp_path / "odd.skops")
    with pytest.raises(tabular.TabularError, match="unexpected types"):
        tabular.load_preprocessor(tmp_path / "odd.skops")
    (tmp_path / "broken.skops").write_bytes(b"not a zip")
    with pytest.raises(tabular.TabularError, match="corrupt"):
        tabular.load_preprocessor(tmp_path / "broken.skops")


def test_autoencoder_trains_saves_and_loads(items, tmp_path):
    features = tabular.build_preprocessor().fit_transform(tabular.tabular_frame(items))
    result = tabular.train_autoencoder(features, latent_dim=8, epochs=30, seed=1)
    losses = result.history["loss"]
    assert losses[-1] < losses[0]  # it learns
    codes = tabular.encode(result.encoder, features)
    assert codes.shape == (len(items), 8)
    tabular.save_encoder(result.encoder, tmp_path / "enc.keras")
    again = tabular.encode(tabular.load_encoder(tmp_path / "enc.keras"), features)
    np.testing.assert_allclose(again, codes, rtol=1e-5, atol=1e-6)
    (tmp_path / "bad.keras").write_bytes(b"nope")
    with pytest.raises(tabular.TabularError, match="corrupt"):
        tabular.load_encoder(tmp_path / "bad.keras")
