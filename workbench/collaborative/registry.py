"""Models by name: :func:`register` a :class:`CollaborativeModel` subclass, find it with
:func:`model_class`.

The built-in models live in :mod:`workbench.collaborative.models`, one module each, and are
registered when :mod:`workbench.collaborative` is imported (which any of its modules does
first). The registry imports no model (nor the base class: a name is all it keeps), so the
base class validates configs against it without an import cycle. A model of your own is one
module::

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

from workbench.collaborative.errors import CollaborativeError

__all__ = ["describe_models", "model_class", "model_names", "register"]

_MODELS: dict[str, type] = {}
"""Registered model classes (:class:`~workbench.collaborative.base.CollaborativeModel`
subclasses) by name, in registration order."""


def register(cls: type) -> type:
    """Class decorator: make the model class ``cls`` available by ``cls.name``."""
    if not getattr(cls, "name", ""):
        raise CollaborativeError(f"{cls.__qualname__} has no name")
    if cls.name in _MODELS and _MODELS[cls.name] is not cls:
        raise CollaborativeError(f"a model named {cls.name!r} is already registered "
                                 f"({_MODELS[cls.name].__module__})")
    _MODELS[cls.name] = cls
    return cls


def model_names() -> tuple[str, ...]:
    """The registered model names, in registration order."""
    return tuple(_MODELS)


def model_class(name: str) -> type:
    """The model class registered as ``name``; an error listing the registered ones
    otherwise."""
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise CollaborativeError(f"unknown model {name!r}; registered models: "
                                 f"{', '.join(_MODELS)}") from None


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
