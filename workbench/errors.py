"""Bad input as one line: the one pydantic ``ValidationError`` formatter and the one ``k``
check that every part of the workbench uses (the CLI, sweep and dataset spec files, model and
hybrid configs, searches).

A message names where (the field, dotted for nested ones), what is wrong and the value given:
``params.l2: Input should be greater than 0 (got -1)``. Callers add what only they know (the
file, "invalid option"), never their own formatting of pydantic's errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import TYPE_CHECKING, Any

from workbench import WorkbenchError

if TYPE_CHECKING:
    from pydantic import ValidationError


def _internal(part: object) -> bool:
    """A part pydantic adds to a location for a union member or a validator, not a key the
    user wrote (``columns.genres.str`` is the key ``columns.genres``; ``strategy`` is a key)."""
    text = str(part)
    return text in ("str", "int", "float", "bool", "ListColumn") or text.startswith(
        ("function-", "tagged-union[", "union["))


def describe_errors(exc: ValidationError, prefix: str = "", dashes: bool = False,
                    messages: Mapping[str, str] | None = None) -> str:
    """``exc`` as one line: ``where: message (got value)`` per error, ``; ``-separated,
    repeats dropped.

    Args:
        exc: pydantic's error.
        prefix: put before every location (``params.`` for a model's hyperparameters).
        dashes: write ``latent_dim`` as ``latent-dim`` (command-line options; the value given
            is echoed for every error).
        messages: a message per pydantic error type that replaces pydantic's
            (``{"extra_forbidden": "unknown key (see ...)"}``).
    """
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if not _internal(p)]
        where = ".".join(loc)
        if dashes:
            where = where.replace("_", "-")
        kind = err.get("type", "")
        message = (messages or {}).get(kind) or str(err.get("msg", "")).removeprefix(
            "Value error, ")
        value = err.get("input")
        hidden = kind == "missing" or kind in (messages or {}) or isinstance(value, dict) or (
            kind == "value_error" and not dashes)  # a validator's message names the value
        shown = "" if hidden else f" (got {short_repr(value)})"
        parts.append(f"{prefix}{where}: {message}{shown}" if where else f"{message}{shown}")
    return "; ".join(dict.fromkeys(parts))


ECHO_CHARS = 200
"""The most characters of a given value an error line echoes."""


def first_line(exc: BaseException, default: str = "") -> str:
    """The first line of ``exc``'s message, stripped (``default`` when it has none): what a
    one-line error or a report note quotes of a library's exception."""
    return (str(exc).strip().splitlines() or [default])[0]


def short_repr(value: Any, limit: int = ECHO_CHARS) -> str:
    """``repr(value)`` for an error line, at most about ``limit`` characters: a longer string
    is cut and its length given (``'xxx...'... (300000 chars)``); a container is abbreviated
    by :mod:`reprlib` without being written out whole (a YAML alias bomb is 10^9 values)."""
    import reprlib

    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value):,} chars)"
    if isinstance(value, int) and value.bit_length() > 3 * limit:
        return f"an integer of {value.bit_length():,} bits"
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return repr(value)
    brief = reprlib.Repr()
    brief.maxlevel, brief.maxstring, brief.maxlong, brief.maxother = 3, 60, limit, limit
    brief.maxlist = brief.maxtuple = brief.maxdict = brief.maxset = 10
    text = brief.repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def is_int(value: Any) -> bool:
    """An integer (Python's or NumPy's, not a bool) that fits the int64 ids of the catalogs."""
    return (isinstance(value, Integral) and not isinstance(value, bool)
            and -(2**63) <= int(value) < 2**63)


def check_k(k: Any, error: type[WorkbenchError] = WorkbenchError) -> None:
    """Refuse a result count that is not a positive integer, with ``error``."""
    if not is_int(k) or k <= 0:
        raise error(f"k must be a positive integer, got {k!r}")
