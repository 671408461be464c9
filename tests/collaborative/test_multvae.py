"""Mult-VAE (Liang et al. 2018) on the toy dataset: it learns (well above popularity on the
held-out items), its numpy scoring is the Keras network's forward pass, a saved model scores
identically, the seed fixes the scores, the annealing schedule, and bad parameters are one
line each."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.collaborative import (
    CollaborativeError,
    CollaborativeModel,
    make_config,
    train,
)
from workbench.data.splits import leave_last_out
from workbench.data.toy import make_toy
from workbench.evaluation import full_ranking

TOY = {"epochs": 60, "patience": 60, "hidden": 64, "latent": 16, "lr": 0.01,
       "anneal_steps": 50}


@pytest.fixture(scope="module")
def toy_split():
    tables = make_toy()
    inter = tables.interactions
    is_test = leave_last_out(inter, seed=0)
    return inter[~is_test], inter[is_test], tables.items["item_id"].to_numpy()


@pytest.fixture(scope="module")
def trained(toy_split):
    train_df, _, catalog = toy_split
    return train(make_config(dataset="toy", model="multvae", params=TOY), train_df, catalog)


def test_mult_vae_ranks_held_out_items_far_above_popularity(toy_split, trained) -> None:
    train_df, test_df, catalog = toy_split
    pop = train(make_config(dataset="toy", model="popularity"), train_df, catalog)
    vae = full_ranking(trained, test_df, k=10)["full_ndcg_at_10"]
    base = full_ranking(pop, test_df, k=10)["full_ndcg_at_10"]
    assert vae > base + 0.15, (vae, base)  # measured: 0.48 vs 0.13 (random: about 0.1)


def test_numpy_scores_are_the_keras_networks_forward_pass(trained) -> None:
    """What the model scores with (numpy, the mean code, no dropout) is the trained Keras
    encoder and decoder in inference mode."""
    from workbench.collaborative.models.multvae import _WEIGHTS, build_networks

    p = trained.params
    encoder, decoder = build_networks(trained.n_items, p.hidden, p.latent, p.dropout)
    weights = [trained.weights[name] for name in _WEIGHTS]
    encoder.set_weights(weights[:4])
    decoder.set_weights(weights[4:])
    users = np.arange(len(trained.ids.users))
    x = np.zeros((len(users), trained.n_items), np.float32)
    for u in users:
        x[u, trained.seen[int(u)]] = 1.0
    mu = np.asarray(encoder(x, training=False))[:, :p.latent]
    expected = np.asarray(decoder(mu, training=False))
    np.testing.assert_allclose(trained.score_users(users), expected, rtol=1e-4, atol=1e-4)
    # a new user folded in from a known user's items scores as that user
    np.testing.assert_allclose(trained.score_history(trained.seen[0], np.arange(
        trained.n_items)), trained.score_users(np.array([0]))[0], atol=1e-6)


def test_a_saved_mult_vae_scores_identically(trained, tmp_path) -> None:
    trained.save(tmp_path / "vae")
    loaded = CollaborativeModel.load(tmp_path / "vae")
    assert type(loaded) is type(trained) and loaded.config == trained.config
    assert loaded.best_epochs == trained.best_epochs
    users = np.arange(len(trained.ids.users))
    np.testing.assert_array_equal(loaded.score_users(users), trained.score_users(users))
    assert sorted(p.name for p in (tmp_path / "vae").iterdir()) == [
        "config.json", "ids.npz", "weights.npz"]  # arrays only: loads without pickle
    np.savez(tmp_path / "vae" / "weights.npz", enc_w=np.zeros(2))
    with pytest.raises(CollaborativeError, match=r"is corrupt .*lacks \['enc_b'"):
        CollaborativeModel.load(tmp_path / "vae")


def test_the_seed_fixes_the_scores(toy_split) -> None:
    train_df, _, catalog = toy_split
    quick = {**TOY, "epochs": 5}
    runs = [train(make_config(dataset="toy", model="multvae", seed=seed, params=quick),
                  train_df, catalog).score_users(np.arange(5)) for seed in (3, 3, 4)]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-6)
    assert not np.allclose(runs[0], runs[2], atol=1e-6)


def test_early_stopping_keeps_the_best_epoch_and_reports_each(toy_split) -> None:
    from workbench.collaborative import refit, validation_split

    train_df, _, catalog = toy_split
    fit_rows, val_rows = validation_split(train_df, seed=0)
    lines: list[str] = []
    selected = train(make_config(dataset="toy", model="multvae",
                                 params={**TOY, "epochs": 15, "patience": 4}),
                     fit_rows, catalog, validation=val_rows, progress=lines.append)
    curve = selected.history["val_ndcg_at_10"]
    assert selected.best_epochs == int(np.argmax(curve)) + 1 and len(curve) <= 15
    assert lines == [f"epoch {n}/15, val NDCG@10 {v:.4f}" for n, v in enumerate(curve, 1)]
    final = refit(selected, train_df, catalog)
    assert len(final.history["loss"]) == selected.best_epochs


@pytest.mark.parametrize(("params", "message"), [
    ({"hidden": 0}, r"params\.hidden: Input should be greater than 0 \(got 0\)"),
    ({"dropout": 1.0}, r"params\.dropout: Input should be less than 1"),
    ({"beta_max": -0.1}, r"params\.beta_max: Input should be greater than or equal to 0"),
    ({"anneal_steps": "many"}, r"params\.anneal_steps: Input should be a valid integer"),
    ({"factors": 8}, r"params\.factors: Extra inputs are not permitted"),
])
def test_bad_parameters_are_one_line_errors(params, message) -> None:
    with pytest.raises(CollaborativeError, match=message) as caught:
        make_config(dataset="toy", model="multvae", params=params)
    assert "\n" not in str(caught.value)


def test_kl_annealing_rises_linearly_to_beta_max() -> None:
    from workbench.collaborative.models.multvae import kl_weight

    assert [kl_weight(n, 0.2, 100) for n in (0, 50, 100, 1000)] == pytest.approx(
        [0.0, 0.1, 0.2, 0.2])
    assert kl_weight(0, 0.3, 0) == pytest.approx(0.3)  # no annealing: beta_max throughout


def test_defaults_are_the_papers() -> None:
    config = make_config(dataset="toy", model="multvae")
    assert {k: config.params[k] for k in ("hidden", "latent", "dropout", "beta_max", "lr",
                                          "batch_size")} == {
        "hidden": 600, "latent": 200, "dropout": 0.5, "beta_max": 0.2, "lr": 0.001,
        "batch_size": 500}
