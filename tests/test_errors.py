"""Bad input as one line (workbench.errors): every field named, pydantic's internals dropped."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError, field_validator

from workbench import WorkbenchError
from workbench.errors import check_k, describe_errors
from workbench.hybrid.config import HybridConfig


def _errors(model, **values) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model(**values)
    return caught.value


def test_every_field_is_named_with_the_value_given() -> None:
    """A field whose name starts like one of pydantic's location parts (``strategy``,
    ``str``) keeps its name."""
    message = describe_errors(_errors(HybridConfig, strategy="x", alpha=2))
    assert message == ("alpha: Input should be less than or equal to 1 (got 2); strategy: "
                       "Input should be 'blend' or 'rrf' (got 'x')")
    assert describe_errors(_errors(HybridConfig, max_per_franchise=-1), dashes=True) == (
        "max-per-franchise: Input should be greater than or equal to 0 (got -1)")


class _Spec(BaseModel, extra="forbid"):
    year: int = 0

    @field_validator("year")
    @classmethod
    def _recent(cls, value: int) -> int:
        if value < 1900:
            raise ValueError(f"year {value} is before 1900")
        return value


def test_union_members_and_validators_leave_no_trace() -> None:
    """A dataset spec's ``genres`` is a column or a delimited-list column: the key the user
    wrote is named, not pydantic's union member (``ListColumn``)."""
    from workbench.data.spec import SPEC_MESSAGES, Layout

    columns = {"item_id": "a", "title": "t", "genres": {"column": 1}}
    message = describe_errors(_errors(
        Layout, name="b", items={"file": "x.csv", "columns": columns},
        interactions={"file": "y.csv", "columns": {"user_id": "u", "item_id": "i"}},
        colour=1), messages=SPEC_MESSAGES)
    parts = message.split("; ")
    assert "items.columns.genres.column: Input should be a valid string (got 1)" in parts
    assert not [p for p in parts if "ListColumn" in p or ".str:" in p]
    assert [p for p in parts if p.startswith("colour: unknown key")]
    assert describe_errors(_errors(_Spec, year=10)) == "year: year 10 is before 1900"
    assert describe_errors(_errors(_Spec, year=10), dashes=True) == \
        "year: year 10 is before 1900 (got 10)"  # an option's value is always echoed


@pytest.mark.parametrize("k", [0, -3, 2.5, "10", True, None, 2**63])
def test_k_must_be_a_positive_integer(k) -> None:
    with pytest.raises(WorkbenchError, match="k must be a positive integer"):
        check_k(k)


def test_numpy_integers_are_counts_too() -> None:
    check_k(np.int64(5))
    check_k(10)
