"""Models by name: :func:`register` a :class:`CollaborativeModel` subclass, find it with
:func:`model_class`.

The built-in models live in :mod:`workbench.collaborative.models`, one module each, and are
registered when :mod:`workbench.collaborative` is imported (which any of its modules does
first). The table itself lives in :mod:`workbench.collaborative.base`, so the base never
imports its models (no import cycle). A model of your own is one module::

    from workbench.collaborative import CollaborativeModel, ModelParams, register

    @register
    class MyModel(CollaborativeModel):
        name = "mine"
        class Params(ModelParams):
            factors: int = 64
        ...

Import it before building a config (a notebook cell, or your package's ``__init__``).
"""

from __future__ import annotations

import typing
from typing import Any

from workbench.collaborative.base import _MODELS, model_class, model_names, register

__all__ = ["describe_models", "model_class", "model_names", "register"]

def describe_models() -> list[dict[str, Any]]:
    """Each model's name, objectives, summary and parameters (name, type, default, doc)."""
    out = []
    for name in model_names():
        cls = _MODELS[name]
        params = []
        for pname, info in cls.Params.model_fields.items():
            choices = typing.get_args(info.annotation) if typing.get_origin(
                info.annotation) is typing.Literal else ()
            annotation = ("|".join(map(str, choices)) if choices else
                          getattr(info.annotation, "__name__", None) or str(info.annotation))
            params.append({"name": pname, "type": annotation.replace("typing.", ""),
                           "default": info.default, "doc": info.description or ""})
        out.append({"name": name, "objectives": list(cls.objectives), "summary": cls.summary,
                    "params": params})
    return out
