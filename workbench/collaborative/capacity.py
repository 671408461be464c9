"""What a model costs before it fits, and the one-line refusal of one that would not fit.

Every model states its peak memory (and a rough time) from the size of its training data
(:class:`Shape`: users, items, interactions) through ``CollaborativeModel.cost``; the
estimates are deliberately pessimistic formulas of the arrays each algorithm holds at its
peak (a dense ``items x users`` copy, a ``d x d`` inverse, factor matrices, the sparse Gram
matrix), checked against measured peaks by the scale benchmark (``docs/scale.md``).

:func:`check_fits` compares the estimate with the memory budget (``Settings.memory_budget_gb``;
by default 75% of the machine's memory) and, when it does not fit, raises
:class:`ModelTooLarge` with one line naming the need, the budget and the models that do fit
(the model's ``fallbacks``: EASE names SANSA and iALS). Training calls it before anything is
allocated, so a model that would not fit never starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.collaborative.errors import CollaborativeError

GB = 1024**3
BUDGET_SHARE = 0.75
"""Default budget: this share of the machine's physical memory."""


class ModelTooLarge(CollaborativeError):
    """A model would need more memory than the budget; the message names one that fits."""


@dataclass(frozen=True)
class Shape:
    """The size of a model's training data."""

    users: int
    items: int
    interactions: int

    def __str__(self) -> str:
        return (f"{self.users:,} users x {self.items:,} items, {self.interactions:,} "
                f"interactions")


@dataclass(frozen=True)
class Cost:
    """A model's estimated peak memory (bytes) and rough training time (seconds, 2 cores)."""

    memory: float
    seconds: float

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.memory + other.memory, self.seconds + other.seconds)

    @property
    def gb(self) -> float:
        return self.memory / GB


def sparse_bytes(nnz: float, rows: float = 0) -> float:
    """A float32 CSR matrix with int64 indices: 12 bytes per entry, 8 per row pointer."""
    return 12.0 * nnz + 8.0 * rows


def gram_nnz(shape: Shape) -> float:
    """Entries of the item-item co-occurrence matrix ``X'X``: at most ``items^2``, and about
    the users' summed squared history lengths (heavy-tailed activity doubles the mean's)."""
    mean = shape.interactions / max(1, shape.users)
    return min(float(shape.items) ** 2, 2.0 * shape.users * mean * mean + shape.items)


def memory_budget(settings=None) -> float:
    """The budget in bytes: ``settings.memory_budget_gb``, else 75% of physical memory."""
    if settings is not None and getattr(settings, "memory_budget_gb", None):
        return float(settings.memory_budget_gb) * GB
    import psutil

    return BUDGET_SHARE * psutil.virtual_memory().total


def check_fits(model: str, params: dict, shape: Shape, settings=None) -> Cost:
    """The cost of training ``model`` with ``params`` on ``shape``; :class:`ModelTooLarge`
    (one line, naming the models that fit) when it exceeds the budget."""
    from workbench.collaborative.registry import model_class

    cls = model_class(model)
    cost = cls.cost(cls.Params(**params), shape)
    budget = memory_budget(settings)
    if cost.memory <= budget:
        return cost
    fitting = []
    for name in cls.fallbacks:
        other = model_class(name)
        need = other.cost(other.Params(), shape)
        if need.memory <= budget:
            fitting.append(f"{name} (~{need.gb:.1f} GB)")
    instead = (f"; use {' or '.join(fitting)}" if fitting else
               "; no model of the zoo fits it: sample the data or raise the budget")
    raise ModelTooLarge(f"{model} needs ~{cost.gb:.1f} GB for {shape}, over the memory budget "
                        f"of {budget / GB:.1f} GB (WORKBENCH_MEMORY_BUDGET_GB){instead}")
