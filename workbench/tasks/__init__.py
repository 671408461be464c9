"""Jobs: one module per job, each a function taking one typed task config (and settings) that
builds or trains, evaluates, logs to MLflow and registers, and returns a result object.
Notebooks, the CLI and sweeps call these; they hold no logic of their own.

- :mod:`workbench.tasks.data`: summarise a prepared dataset (notebook 01).
- :mod:`workbench.tasks.content`: build and measure a content index (notebook 02).
- :mod:`workbench.tasks.collaborative`: train and evaluate one collaborative model
  (notebook 03, ``workbench collaborative train``, tuning trials).
- :mod:`workbench.tasks.hybrid`: choose the hybrid's alpha on validation, report it on test
  (notebook 04).
- :mod:`workbench.tasks.pipeline`: the main job, ``make pipeline``.

Every task config derives from :class:`TaskConfig`.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class TaskConfig(BaseModel):
    """A job's typed parameters; a notebook's ``parameters`` cell has the same names and
    defaults (a test checks it)."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> Self:
        """The task from a notebook's variables (its ``parameters`` cell, after papermill)."""
        return cls(**{name: namespace[name] for name in cls.model_fields if name in namespace})

