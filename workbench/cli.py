"""The ``workbench`` command line (``workbench --help``; every subcommand has ``--help``).

Errors the workbench raises on purpose (:class:`workbench.WorkbenchError`) are printed as one
``error: ...`` line with exit code 1, never as a traceback.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from workbench import WorkbenchError

app = typer.Typer(
    help="Hybrid Recommender Workbench: data, models and experiments for hybrid recommenders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch, prepare and inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

F = TypeVar("F", bound=Callable)
DatasetArg = Annotated[str, typer.Argument(help="Dataset name (see `workbench data list`).")]


def _clean_errors(func: F) -> F:
    """Turn a WorkbenchError into a one-line message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except WorkbenchError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.command("settings")
@_clean_errors
def show_settings() -> None:
    """Print the resolved settings (every path the workbench uses)."""
    from workbench.settings import get_settings

    for key, value in get_settings().model_dump().items():
        typer.echo(f"{key:<20} {value}")


@data_app.command("list")
def data_list() -> None:
    """List the registered datasets."""
    from workbench.data import DATASETS

    for spec in DATASETS.values():
        typer.echo(f"{spec.name:<8} {spec.title}")


@data_app.command("fetch")
@_clean_errors
def data_fetch(
    name: DatasetArg,
    force: Annotated[bool, typer.Option(help="Fetch again even when verified files exist.")] =
    False,
) -> None:
    """Copy the raw files from the mirror (or download them), verifying sha256."""
    from workbench.data import fetch

    for f in fetch(name, force=force):
        typer.echo(f"{name}: {f.name:<28} {f.source}")


@data_app.command("prepare")
@_clean_errors
def data_prepare(
    name: DatasetArg,
    seed: Annotated[int | None, typer.Option(help="Split seed (default: settings.seed).")] =
    None,
) -> None:
    """Build items.parquet, interactions.parquet, splits and the prepare report."""
    from workbench.data import prepare
    from workbench.data.overview import format_report

    started = time.perf_counter()
    report = prepare(name, seed=seed)
    typer.echo(format_report(report))
    typer.echo(f"{name}: prepared in {time.perf_counter() - started:.1f}s")


@data_app.command("summary")
@_clean_errors
def data_summary(
    names: Annotated[list[str], typer.Argument(help="Prepared dataset names.")],
) -> None:
    """Print the summary table of prepared datasets."""
    typer.echo(_summaries_table(names))


def _summaries_table(names: list[str]) -> str:
    from workbench.data import load_interactions, load_items, load_report
    from workbench.data.overview import format_summaries, summarize

    summaries = [
        summarize(n, load_items(n), load_interactions(n), load_report(n)) for n in names
    ]
    return format_summaries(summaries)


@app.command("pipeline")
@_clean_errors
def pipeline(
    datasets: Annotated[
        list[str] | None, typer.Option("--dataset", "-d", help="Datasets (default: all real).")
    ] = None,
) -> None:
    """The main job: fetch and prepare the datasets, then print their summary."""
    from workbench.data import DATASETS, fetch, prepare

    names = datasets or [n for n, spec in DATASETS.items() if not spec.synthetic]
    started = time.perf_counter()
    for name in names:
        typer.echo(f"== {name}: fetch")
        for f in fetch(name):
            typer.echo(f"   {f.name:<28} {f.source}")
        typer.echo(f"== {name}: prepare")
        prepare(name)
    typer.echo("")
    typer.echo(_summaries_table(names))
    typer.echo(f"\npipeline finished in {time.perf_counter() - started:.1f}s")


def main() -> None:  # pragma: no cover - console entry point alias
    """Entry point for ``python -m workbench``."""
    app(prog_name="workbench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
