"""`workbench content ...` and `workbench items ...`: content indexes built and queried;
items added to a catalog (cold start) and their missing details healed."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench.cli.app import (
    DatasetArg,
    clean_errors,
    content_app,
    items_app,
)


@content_app.command("build")
@clean_errors
def content_build(
    name: DatasetArg,
    fusion: Annotated[bool, typer.Option(help="Fuse the tabular autoencoder code.")] = True,
    index_type: Annotated[str, typer.Option(
        help="auto (by catalog size), flat, hnsw, ivf or ivf_sq8.")] = "auto",
    latent_dim: Annotated[int, typer.Option(help="Autoencoder code size.")] = 32,
    tabular_weight: Annotated[float, typer.Option(help="Weight of the tabular code.")] = 0.5,
) -> None:
    """Embed the catalog (cached), train the tabular branch, build and save the index."""
    from workbench.content import ContentConfig, build_content_index

    config = ContentConfig(dataset=name, fusion=fusion, index_type=index_type,
                           latent_dim=latent_dim, tabular_weight=tabular_weight)
    _, report = build_content_index(config)
    ray = (f" ({report.embedding.on_ray:,} on Ray, {report.embedding.texts_per_s:.0f} texts/s)"
           if report.embedding.on_ray else "")
    typer.echo(f"{name}: {report.items:,} items, {report.embedding.embedded:,} embedded{ray}, "
               f"dim {report.dim}, {report.seconds['total']:.1f}s")


def _print_results(frame) -> None:
    from workbench.data import display_title

    for row in frame.itertuples(index=False):
        typer.echo(f"{row.rank:>3}. {row.score:.3f}  {display_title(row.title, row.year)}  "
                   f"[{row.item_id}]")


@content_app.command("search")
@clean_errors
def content_search(
    name: DatasetArg,
    query: Annotated[str, typer.Argument(help="Free text, e.g. 'time travel thriller'.")],
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
    lexical_weight: Annotated[float | None, typer.Option(
        min=0, help="BM25 weight (default: RankingConfig's, chosen on validation).")] = None,
    prior_weight: Annotated[float | None, typer.Option(
        min=0, help="Quality-prior weight (log vote count).")] = None,
    weak_text_penalty: Annotated[float | None, typer.Option(
        min=0, help="Subtracted from items without a plot text.")] = None,
    dense_only: Annotated[bool, typer.Option(
        help="Rank by the embedding alone (all three weights 0).")] = False,
) -> None:
    """Free-text search over a dataset's content index (dense + BM25 + quality prior)."""
    from workbench.content import load_content_engine
    from workbench.content.ranking import RankingConfig

    options = {"lexical_weight": lexical_weight, "prior_weight": prior_weight,
               "weak_text_penalty": weak_text_penalty}
    if dense_only:
        options = dict.fromkeys(options, 0.0)
    ranking = RankingConfig(**{n: v for n, v in options.items() if v is not None})
    _print_results(load_content_engine(name, ranking=ranking).search(query, k))


@content_app.command("similar")
@clean_errors
def content_similar(
    name: DatasetArg,
    item_id: Annotated[int, typer.Argument(help="The seed item's id.")],
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
) -> None:
    """More like this: the items closest to ITEM_ID."""
    from workbench.content import load_content_engine

    _print_results(load_content_engine(name).similar(item_id, k))


@items_app.command("add")
@clean_errors
def items_add(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="movies (TMDB) or anime "
                                                                 "(Jikan).")],
    title: Annotated[str, typer.Option(help="The title to fetch.")],
    year: Annotated[int | None, typer.Option(help="Release year: picks among remakes.")] =
    None,
) -> None:
    """Fetch a title that is not in the catalog, embed it, add it to the catalog and the
    content index, and save the index (atomically)."""
    from workbench.content import load_content_engine
    from workbench.enrich.coldstart import add_item

    engine = load_content_engine(dataset)
    result = add_item(engine, title, year, background=False)
    typer.echo(f"added {result.title} ({result.year}) as item {result.item_id} from "
               f"{result.provider}; saved {result.saved.result()}")


@items_app.command("heal")
@clean_errors
def items_heal(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="movies or anime.")],
    report_only: Annotated[bool, typer.Option("--report", help="Count the gaps; fetch "
                                                               "nothing.")] = False,
    limit: Annotated[int | None, typer.Option(min=1,
                                              help="Repair at most this many items.")] = None,
    retry: Annotated[bool, typer.Option(help="Ask again about items the provider could not "
                                             "fill.")] = False,
) -> None:
    """Report missing posters, overviews, years and ratings, and patch them from the provider
    (patches saved in data/patches/<dataset>.json with each field's source)."""
    from workbench.content.engine import catalog_with_additions
    from workbench.enrich import provider_for
    from workbench.enrich.heal import HEALABLE, PatchStore, catalog_gaps, heal_items
    from workbench.settings import get_settings

    settings = get_settings()
    items, _ = catalog_with_additions(dataset, settings)
    gaps = catalog_gaps(items)
    counts = {f: int(gaps["missing"].apply(lambda m, f=f: f in m).sum()) for f in HEALABLE}
    typer.echo(f"{dataset}: {len(gaps):,} of {len(items):,} items have gaps: " +
               ", ".join(f"{f} {n:,}" for f, n in counts.items()))
    if report_only:
        return
    store = PatchStore.for_dataset(dataset, settings)
    report = heal_items(items, provider_for(dataset, settings), store, retry=retry,
                        limit=limit)
    typer.echo(f"looked up {report.looked_up:,} items; patched " +
               (", ".join(f"{f} {n:,}" for f, n in report.fields_patched.items()) or "nothing")
               + f"; {report.still_missing:,} still incomplete; {len(report.errors)} errors; "
               f"patches in {store.path}")
    if report.fields_patched.get("text"):
        typer.echo(f"rebuild the index to embed the new overviews: workbench content build "
                   f"{dataset}")
