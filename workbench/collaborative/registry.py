"""Models by name: :func:`register` a :class:`CollaborativeModel` subclass, find it with
:func:`model_class`.

The built-in models live in :mod:`workbench.collaborative.models`, one module each, and are
registered when that package is imported (lazily, on the first lookup). A model of your own
is one module::

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

from workbench.collaborative.base import CollaborativeError, CollaborativeModel

_MODELS: dict[str, type[CollaborativeModel]] = {}


def register(cls: type[CollaborativeModel]) -> type[CollaborativeModel]:
    """Class decorator: make ``cls`` available by ``cls.name``."""
    if not cls.name:
        raise CollaborativeError(f"{cls.__qualname__} has no name")
    if cls.name in _MODELS and _MODELS[cls.name] is not cls:
        raise CollaborativeError(f"a model named {cls.name!r} is already registered "
                                 f"({_MODELS[cls.name].__module__})")
    _MODELS[cls.name] = cls
    return cls


def _builtin() -> None:
    import workbench.collaborative.models  # noqa: F401  (registers the built-in models)


def model_names() -> tuple[str, ...]:
    """The registered model names, in registration order."""
    _builtin()
    return tuple(_MODELS)


def model_class(name: str) -> type[CollaborativeModel]:
    """The model registered as ``name``; an error listing the registered ones otherwise."""
    _builtin()
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
