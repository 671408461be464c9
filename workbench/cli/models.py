"""`workbench collaborative ...`, `recommend`, `franchises` and `register-hybrid`: the model
zoo, training one model, the hybrid's answers and its registration for serving."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench import WorkbenchError
from workbench.cli.app import (
    _HYBRID,
    DatasetArg,
    app,
    clean_errors,
    collab_app,
)
from workbench.errors import first_line


@collab_app.command("models")
def collaborative_models() -> None:
    """List the registered models with their parameters (name, default, meaning)."""
    from workbench.collaborative import describe_models

    for m in describe_models():
        typer.secho(f"{m['name']}  ({', '.join(m['objectives'])}): {m['summary']}", bold=True)
        for p in m["params"]:
            typer.echo(f"    {p['name']:<18} {p['type']:<26} {p['default']!s:<12} {p['doc']}")


@collab_app.command("train")
@clean_errors
def collaborative_train(
    dataset: DatasetArg,
    model: Annotated[str, typer.Option("--model", "-m", help="A registered model.")] = "ease",
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A hyperparameter, NAME=VALUE (YAML value; repeatable).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Model seed.")] = 42,
    tuned: Annotated[bool, typer.Option(help="Start from experiments/tuned/<dataset>.yaml."
                                        )] = True,
    save: Annotated[bool, typer.Option(help="Also save under models/<dataset>/collaborative/ "
                                            "(default: only logged to the MLflow run).")] =
    False,
    register: Annotated[bool, typer.Option(help="Register in MLflow, where the champion alias "
                                                "moves on validation NDCG@10 (default: the "
                                                "registry is left alone).")] = False,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "collaborative",
) -> None:
    """Train one model with the validation protocol, score the test split once, log it to
    MLflow (the job of notebook 03); models/ and the registry change only with --save and
    --register."""
    import yaml

    from workbench.tasks.collaborative import TrainTask, train_collaborative

    params = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise WorkbenchError(f"--param takes NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise WorkbenchError(f"--param {item!r}: the value is not valid YAML "
                                 f"({first_line(exc)})") from None
    result = train_collaborative(TrainTask(
        dataset=dataset, model=model, params=params, seed=seed, tuned=tuned, save_model=save,
        register_model=register, mlflow_experiment=experiment), log=typer.echo)
    typer.echo(f"run {result.run_id}; validation NDCG@10 "
               f"{result.metrics['val_full_ndcg_at_10']:.4f}, test NDCG@10 "
               f"{result.metrics['test_full_ndcg_at_10']:.4f}"
               + ("; now the champion" if result.champion else ""))


@app.command("register-hybrid")
@clean_errors
def register_hybrid(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")],
    force: Annotated[bool, typer.Option(help="Log a new version even if the champion and "
                                             "the index did not change.")] = False,
) -> None:
    """Log the dataset's hybrid recommender as an MLflow model and register it as
    <dataset>-hybrid@champion (what `make serve` serves; `make pipeline` does this)."""
    from workbench.console import library_log
    from workbench.serving import log_hybrid

    log = library_log()
    typer.echo(log_hybrid(dataset, force=force, quiet_log=log))
    typer.echo(f"(MLflow's own output: {log})")


@app.command("serving-example")
@clean_errors
def serving_example(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")] = "anime",
    write: Annotated[bool, typer.Option(help="Rewrite the sample answer in docs/serving.md "
                                             "(between its serving-example markers).")] =
    False,
) -> None:
    """Answer docs/serving.md's sample request with <dataset>-hybrid@champion, loaded
    through MLflow in-process as `make serve` loads it; print the docs' sample section and,
    with --write, put it into docs/serving.md."""
    from workbench.console import library_log, output_to
    from workbench.tasks.serving_example import example_answer, format_example, write_example

    with output_to(library_log()):  # MLflow's and TensorFlow's start-up lines
        answer, version = example_answer(dataset)
    text = format_example(dataset, answer, version)
    typer.echo(text)
    if write:
        typer.echo(f"wrote {write_example(text)}")


def _print_recommendations(title: str, recs) -> None:
    from workbench.data import display_title

    typer.secho(f"\n{title}  ({recs.summary()})", bold=True)
    for row in recs.frame.itertuples(index=False):
        typer.echo(f"{row.rank:>3}. {row.score:.3f}  {display_title(row.title, row.year)}  "
                   f"[{row.item_id}]")
        typer.echo(f"       {row.reason}")


@app.command("recommend")
@clean_errors
def recommend(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")],
    query: Annotated[str | None, typer.Option("--query", "-q", help="Free-text query.")] = None,
    item: Annotated[int | None, typer.Option("--item", help="Seed item id (more like this).")]
    = None,
    user: Annotated[int | None, typer.Option("--user", "-u", help="A known user id.")] = None,
    liked: Annotated[str | None, typer.Option(
        help="Comma-separated liked item ids: a new user (cold start).")] = None,
    k: Annotated[int, typer.Option("-k", help="Results per list.")] = 10,
    alpha: Annotated[float | None, typer.Option(
        help=f"Weight of similarity vs preference (default {_HYBRID['alpha'].default}).")]
    = None,
    strategy: Annotated[str | None, typer.Option(help="blend or rrf.")] = None,
    max_per_franchise: Annotated[int | None, typer.Option(
        help=f"At most this many per franchise; 0 = no filter (default "
             f"{_HYBRID['max_per_franchise'].default}).")] = None,
    exclude_seed_franchise: Annotated[bool, typer.Option(
        help="Leave out the seed item's franchise.")] = False,
    mmr_lambda: Annotated[float | None, typer.Option(
        help="MMR diversity trade-off (1 = off).")] = None,
    model: Annotated[str, typer.Option(
        help="'champion' (chosen on validation by the pipeline) or a model folder under "
             "models/<dataset>/collaborative/ (e.g. ease-implicit).")]
    = "champion",
    feed: Annotated[bool, typer.Option(help="Also print the personalised feed.")] = False,
) -> None:
    """Content match and AI pick side by side (and the "For you" feed with --feed)."""
    from workbench.hybrid import Recommender
    from workbench.hybrid.users import parse_liked

    liked_ids = parse_liked(liked, "--liked") if liked is not None else None
    options = {"strategy": strategy, "max_per_franchise": max_per_franchise,
               "exclude_seed_franchise": exclude_seed_franchise or None,
               "mmr_lambda": mmr_lambda}
    rec = Recommender.load(dataset, collaborative=model)
    has_user = user is not None or liked_ids is not None
    if query is None and item is None and not feed:
        raise WorkbenchError("give --query or --item (and --user or --liked for AI pick), or "
                             "--feed with --user or --liked")
    # every list is computed before any is printed: a bad user or option is the only output
    asked = query is not None or item is not None
    content = rec.content_match(query, item, k, **options) if asked else None
    pick = (rec.ai_pick(query, item, user, k, alpha, liked=liked_ids, **options)
            if asked and has_user else None)
    personal = rec.personalized_feed(user, k, liked=liked_ids, **options) if feed else None
    if content is not None:
        _print_recommendations("Content match", content)
        if pick is not None:
            _print_recommendations("AI pick", pick)
        else:
            typer.echo("\n(AI pick needs --user or --liked)")
    if personal is not None:
        _print_recommendations("For you", personal)


@app.command("franchises")
@clean_errors
def franchises(
    dataset: DatasetArg,
    search: Annotated[str | None, typer.Argument(help="Part of a title or franchise name.")]
    = None,
    limit: Annotated[int, typer.Option(min=1, help="Franchises to show.")] = 10,
) -> None:
    """Inspect the franchise grouping: the biggest franchises, or those matching SEARCH."""
    from workbench.data import load_items
    from workbench.hybrid import franchise_table

    table = franchise_table(load_items(dataset))
    if search:
        hit = table["title"].str.contains(search, case=False, regex=False) | \
            table["franchise_name"].str.contains(search, case=False, regex=False)
        keys = table.loc[hit, "franchise"].unique()
    else:
        keys = (table.drop_duplicates("franchise").sort_values("franchise_size",
                                                               ascending=False)["franchise"])
    keys = list(keys)[:limit]
    if not keys:
        raise WorkbenchError(f"no title or franchise in {dataset!r} matches {search!r}")
    for key in keys:
        members = table[table["franchise"] == key]
        typer.secho(f"{members['franchise_name'].iloc[0]}  ({len(members)} items, key "
                    f"{key!r})", bold=True)
        for row in members.head(15).itertuples(index=False):
            typer.echo(f"   {row.item_id:>8}  {row.title}  [{row.rule}]")
        if len(members) > 15:
            typer.echo(f"   ... and {len(members) - 15} more")
