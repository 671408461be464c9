"""docs/add-a-model.md runs: its module registers a model that trains, saves, loads,
recommends and validates its parameters like the built-ins."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.helpers import REPO
from workbench.collaborative import (
    CollaborativeError,
    CollaborativeModel,
    make_config,
    model_names,
    train,
)
from workbench.collaborative.registry import _MODELS
from workbench.data.toy import make_toy

PAGE = REPO / "docs" / "add-a-model.md"


@pytest.fixture
def goodpop():
    code = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)[0]
    namespace = {"__name__": "workbench.collaborative.models.goodpop"}
    exec(compile(code, str(PAGE), "exec"), namespace)
    yield namespace["GoodPopularity"]
    _MODELS.pop("goodpop", None)


def test_the_pages_model_works_like_a_built_in(goodpop, tmp_path) -> None:
    assert "goodpop" in model_names()
    tables = make_toy()
    config = make_config(dataset="toy", model="goodpop", params={"min_rating": 4})
    model = train(config, tables.interactions, tables.items["item_id"].to_numpy())
    user = int(tables.interactions["user_id"].iloc[0])
    top = model.recommend(user, k=5)
    assert len(top) == 5 and not set(top["item_id"]) & set(
        tables.interactions.loc[tables.interactions["user_id"] == user, "item_id"])
    model.save(tmp_path / "goodpop")
    loaded = CollaborativeModel.load(tmp_path / "goodpop")
    items = tables.items["item_id"].to_numpy()[:10]
    assert np.allclose(loaded.score(user, items), model.score(user, items))
    with pytest.raises(CollaborativeError, match=r"params\.min_rating"):
        make_config(dataset="toy", model="goodpop", params={"min_rating": -1})
