"""The command line's application and its groups (``data``, ``content``, ``experiments``,
``items``, ``collaborative``), and the one-line error contract every command keeps
(:func:`clean_errors`)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from workbench import WorkbenchError
from workbench.errors import first_line
from workbench.hybrid.config import HybridConfig

_HYBRID = HybridConfig.model_fields
"""The hybrid's request defaults, named in the options' help."""

app = typer.Typer(
    help="Hybrid Recommender Workbench: data, models and experiments for hybrid recommenders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch, prepare and inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
content_app = typer.Typer(help="Build and query content indexes.", no_args_is_help=True)
app.add_typer(content_app, name="content")
experiments_app = typer.Typer(help="Inspect tracked experiments.", no_args_is_help=True)
app.add_typer(experiments_app, name="experiments")

items_app = typer.Typer(help="Add items to a catalog (cold start).", no_args_is_help=True)
app.add_typer(items_app, name="items")
collab_app = typer.Typer(help="Collaborative models: list them, train one.",
                         no_args_is_help=True)
app.add_typer(collab_app, name="collaborative")

F = TypeVar("F", bound=Callable)
DatasetArg = Annotated[str, typer.Argument(help="Dataset name (see `workbench data list`).")]


ERROR_LOG = "errors.log"
"""Tracebacks of unexpected CLI errors: ``<experiments_dir>/runs/errors.log``."""


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _log_traceback(exc: BaseException) -> str:
    """Append ``exc``'s traceback to the error log; its path (or a note that it failed)."""
    import datetime
    import traceback

    try:
        from workbench.settings import get_settings

        path = get_settings().runs_dir / ERROR_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as log:
            log.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')} "
                      f"workbench {' '.join(sys.argv[1:])}\n")
            log.write("".join(traceback.format_exception(exc)))
        return str(path)
    except Exception:  # the log itself failed: still one line
        return "no log (it could not be written)"


def _full_disk_line(exc: BaseException) -> str:
    """A full disk or quota met outside the storage helpers (which name their file): the file
    when the error has one, else the workbench home it was writing under."""
    from workbench.storage import disk_full

    where = getattr(exc, "filename", None)
    if not where:
        try:
            from workbench.settings import get_settings

            where = f"a file under {get_settings().home}"
        except Exception:  # the settings themselves failed: still one line
            where = "a file"
    return f"{disk_full(exc)} writing {where}; free space there and rerun"


def clean_errors(func: F) -> F:
    """One ``error:`` line and exit code 1 for every failure: a WorkbenchError as it is, an
    invalid option value with the field and the rule, anything unexpected with its type and
    message plus the log holding its traceback (``experiments/runs/errors.log``); a full disk
    names what was being written and asks to free space."""
    from pydantic import ValidationError

    from workbench.errors import describe_errors

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            typer.secho("error: interrupted", err=True, fg=typer.colors.RED)
            raise typer.Exit(130) from None
        except WorkbenchError as exc:
            fail(str(exc))
            raise typer.Exit(getattr(exc, "exit_code", 1)) from None
        except ValidationError as exc:
            raise fail(f"invalid option {describe_errors(exc, dashes=True)}") from None
        except Exception as exc:  # a bug or an unforeseen input: one line, traceback logged
            from workbench.storage import disk_full

            if disk_full(exc):
                raise fail(_full_disk_line(exc)) from None
            where = _log_traceback(exc)
            first = first_line(exc)
            raise fail(f"unexpected {type(exc).__name__}: {first} (traceback: {where})"
                        ) from None

    return wrapper  # type: ignore[return-value]
