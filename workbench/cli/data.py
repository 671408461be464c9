"""`workbench settings` and `workbench data ...`: the settings in effect; datasets listed,
added from a spec file, fetched, prepared and summarised."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.app import (
    DatasetArg,
    app,
    clean_errors,
    data_app,
)


@app.command("settings")
@clean_errors
def show_settings() -> None:
    """Print the resolved settings (every path the workbench uses)."""
    from workbench.settings import get_settings

    for key, value in get_settings().model_dump().items():
        typer.echo(f"{key:<20} {value}")


@data_app.command("list")
def data_list() -> None:
    """List the registered datasets."""
    from workbench.data import all_datasets

    for spec in all_datasets().values():
        typer.echo(f"{spec.name:<8} {spec.title}")


@data_app.command("add")
@clean_errors
def data_add(
    spec_file: Annotated[Path, typer.Argument(help="A dataset spec (YAML): its CSV files and "
                                                   "which column is what.")],
) -> None:
    """Register your own dataset from a spec file (checked against its files) by copying it
    to datasets/<name>.yaml; then `workbench pipeline --dataset NAME`. The spec format:
    workbench/data/spec.py, and docs/datasets.md "Bring your own dataset"."""
    from workbench.data.registry import register_spec
    from workbench.settings import get_settings

    spec, existed = register_spec(spec_file)
    target = get_settings().spec_file(spec.name)
    typer.echo(f"{'updated' if existed else 'added'} dataset {spec.name} ({target}); next: "
               f"workbench pipeline --dataset {spec.name}")


@data_app.command("synth")
@clean_errors
def data_synth(
    name: Annotated[str, typer.Argument(help="Name of the new dataset (lower case letters, "
                                             "digits, - and _).")],
    items: Annotated[int, typer.Option(min=10, help="Catalog size.")] = 10_000,
    users: Annotated[int, typer.Option(min=2, help="Number of users.")] = 5_000,
    interactions: Annotated[int, typer.Option(min=6, help="Interactions to draw (repeated "
                                                          "user-item pairs are dropped).")] =
    100_000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
) -> None:
    """Write a realistic synthetic dataset (Parquet files and a spec in data/raw/NAME/) and
    register it like `workbench data add`: taste clusters behind ratings and plots, Zipf item
    popularity, heavy-tailed user activity, timestamps. Then `workbench pipeline --dataset
    NAME` (docs/scale.md)."""
    from workbench.data.registry import DATASETS, register_spec
    from workbench.data.synth import SynthError, SynthSize, write_synthetic
    from workbench.settings import get_settings

    if name in DATASETS:
        raise SynthError(f"{name!r} is a built-in dataset; choose another name")
    started = time.perf_counter()
    settings = get_settings()
    result = write_synthetic(name, SynthSize(items, users, interactions, seed),
                             settings.raw_dir(name))
    register_spec(result.spec_file)
    typer.echo(f"synthesised dataset {name}: {result.items:,} items, {result.users:,} users, "
               f"{result.interactions:,} interactions in {time.perf_counter() - started:.1f}s "
               f"({result.spec_file.parent}); next: workbench pipeline --dataset {name}")


@data_app.command("fetch")
@clean_errors
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
@clean_errors
def data_prepare(
    name: DatasetArg,
    seed: Annotated[int | None, typer.Option(min=0, help="Split seed (default: settings.seed).")] =
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
@clean_errors
def data_summary(
    names: Annotated[list[str], typer.Argument(help="Prepared dataset names.")],
) -> None:
    """Print the summary table of prepared datasets."""
    typer.echo(_summaries_table(names))


def _summaries_table(names: list[str]) -> str:
    from workbench.tasks.pipeline import summaries_table

    return summaries_table(names)
