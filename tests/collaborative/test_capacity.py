"""Every model states its cost before it fits; one that would not fit the memory budget is
refused in one line naming one that does, before anything is allocated."""

from __future__ import annotations

import pytest

from workbench.collaborative import make_config, model_class, model_names, train
from workbench.collaborative.capacity import ModelTooLarge, Shape, check_fits
from workbench.data.toy import make_toy
from workbench.settings import Settings

MOVIES = Shape(610, 4_803, 70_000)
MILLION = Shape(500_000, 1_000_000, 9_300_000)
LARGE = Shape(50_000, 100_000, 1_000_000)


@pytest.mark.parametrize("name", model_names())
def test_every_model_states_a_cost_that_grows_with_the_data(name) -> None:
    cls = model_class(name)
    small, large = (cls.cost(cls.Params(), shape) for shape in (MOVIES, MILLION))
    assert 0 < small.memory < large.memory and 0 < small.seconds < large.seconds


def test_ease_past_the_budget_is_refused_in_one_line_naming_what_fits() -> None:
    settings = Settings(memory_budget_gb=12)
    with pytest.raises(ModelTooLarge) as caught:
        check_fits("ease", {}, LARGE, settings)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("ease needs ~") and "50,000 users x 100,000 items" in message
    assert "memory budget of 12.0 GB" in message and "use sansa (~" in message
    # past 200k items SANSA skips COLAMD and keeps 20 weights per item: it fits at a million
    with pytest.raises(ModelTooLarge, match=r"use sansa \(~6\.\d GB\) or ials \(~1\.3 GB\)$"):
        check_fits("ease", {}, MILLION, settings)
    with pytest.raises(ModelTooLarge, match=r"^sansa needs ~\d+\.\d GB .*use ials"):
        check_fits("sansa", {"ordering": "colamd", "weights_per_item": 100}, MILLION, settings)
    assert check_fits("ease", {}, MOVIES, settings).gb < 1  # the catalogs here: EASE fits
    assert check_fits("ials", {}, MILLION, settings).gb < 2


def test_sansa_plans_its_ordering_and_weights_by_catalog_size() -> None:
    from workbench.collaborative.models.sansa import LARGE_FROM, plan

    params = model_class("sansa").Params
    assert plan(params(), LARGE_FROM) == ("colamd", 100)  # our catalogs: as before
    assert plan(params(), LARGE_FROM + 1) == ("natural", 20)
    assert plan(params(ordering="colamd", weights_per_item=50), 10**6) == ("colamd", 50)


def test_training_refuses_before_it_fits(monkeypatch) -> None:
    tables = make_toy()
    fitted = []
    monkeypatch.setattr(model_class("ease"), "fit", lambda *a: fitted.append(1))
    with pytest.raises(ModelTooLarge, match=r"ease needs ~0\.0 GB .* budget of 0\.0 GB"):
        train(make_config(dataset="toy", model="ease"), tables.interactions,
              tables.items["item_id"].to_numpy(), settings=Settings(memory_budget_gb=1e-9))
    assert not fitted


def test_item_knn_past_the_dense_size_computes_the_same_neighbours_sparse(monkeypatch) -> None:
    import numpy as np
    from scipy import sparse

    from workbench.collaborative.models import itemknn

    x = sparse.random(300, 500, density=0.05, random_state=1, format="csr")
    x.data = np.random.default_rng(0).random(len(x.data)) + 0.5  # no ties
    dense = itemknn.cosine_neighbours(x, 10, 5.0)
    monkeypatch.setattr(itemknn, "DENSE_UP_TO", 10)
    monkeypatch.setattr(itemknn, "SPARSE_BLOCK", 64)
    blocked = itemknn.cosine_neighbours(x, 10, 5.0)
    assert dense.nnz == blocked.nnz > 0 and abs(dense - blocked).max() < 1e-6
