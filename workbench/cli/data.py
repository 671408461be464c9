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
    import yaml

    from workbench.data.registry import load_user_spec
    from workbench.data.spec import header
    from workbench.settings import get_settings
    from workbench.storage import write_text

    spec = load_user_spec(spec_file)
    for part in ("items", "interactions"):
        header(spec, part)
    target = get_settings().spec_file(spec.name)
    stored = yaml.safe_load(Path(spec.origin).read_text(encoding="utf-8"))
    for part in ("items", "interactions"):  # absolute, so the copy finds the files
        stored[part]["file"] = str(getattr(spec.layout, part).file)
    existed = target.exists() and Path(spec.origin) != target
    if Path(spec.origin) != target:
        write_text(target, yaml.safe_dump(stored, sort_keys=False, allow_unicode=True))
    typer.echo(f"{'updated' if existed else 'added'} dataset {spec.name} ({target}); next: "
               f"workbench pipeline --dataset {spec.name}")


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
