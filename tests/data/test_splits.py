from __future__ import annotations

import pandas as pd
import pytest

from workbench import WorkbenchError
from workbench.data.splits import leave_last_out, random_holdout


@pytest.fixture
def inter() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2, 3],
            "item_id": [10, 11, 12, 10, 13, 14],
            "rating": [3.0] * 6,
            "timestamp": pd.array([300, 100, 200, 50, 60, 10], dtype="Int64"),
        }
    )


def test_leave_last_out_takes_each_users_latest(inter) -> None:
    test = inter[leave_last_out(inter, seed=0)]
    assert test[["user_id", "item_id"]].values.tolist() == [[1, 10], [2, 13]]  # user 3: 1 item


def test_random_leave_one_out_is_seeded(inter) -> None:
    a = leave_last_out(inter, seed=1, by_time=False)
    assert a.equals(leave_last_out(inter, seed=1, by_time=False))
    assert inter[a].groupby("user_id").size().to_dict() == {1: 1, 2: 1}
    seeds = {tuple(leave_last_out(inter, seed=s, by_time=False)) for s in range(20)}
    assert len(seeds) > 1  # the choice depends on the seed


def test_random_holdout_keeps_a_training_row_per_user() -> None:
    inter = pd.DataFrame({"user_id": [1] * 10 + [2] * 2 + [3], "item_id": range(13)})
    mask = random_holdout(inter, seed=0, fraction=0.2)
    held = inter[mask].groupby("user_id").size().to_dict()
    assert held == {1: 2}  # 20% of 10; user 2: round(0.4) = 0; user 3 keeps its only row
    assert mask.equals(random_holdout(inter, seed=0, fraction=0.2))
    with pytest.raises(WorkbenchError, match="fraction"):
        random_holdout(inter, seed=0, fraction=1.5)
