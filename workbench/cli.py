"""The ``workbench`` command line (``workbench --help``; every subcommand has ``--help``).

Errors the workbench raises on purpose (:class:`workbench.WorkbenchError`) are printed as one
``error: ...`` line with exit code 1, never as a traceback.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from workbench import WorkbenchError
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


def _fail(message: str) -> typer.Exit:
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


def _clean_errors(func: F) -> F:
    """One ``error:`` line and exit code 1 for every failure: a WorkbenchError as it is, an
    invalid option value with the field and the rule, anything unexpected with its type and
    message plus the log holding its traceback (``experiments/runs/errors.log``)."""
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
            _fail(str(exc))
            raise typer.Exit(getattr(exc, "exit_code", 1)) from None
        except ValidationError as exc:
            raise _fail(f"invalid option {describe_errors(exc, dashes=True)}") from None
        except Exception as exc:  # a bug or an unforeseen input: one line, traceback logged
            where = _log_traceback(exc)
            first = (str(exc).strip().splitlines() or [""])[0]
            raise _fail(f"unexpected {type(exc).__name__}: {first} (traceback: {where})"
                        ) from None

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
    from workbench.data import all_datasets

    for spec in all_datasets().values():
        typer.echo(f"{spec.name:<8} {spec.title}")


@data_app.command("add")
@_clean_errors
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
@_clean_errors
def data_summary(
    names: Annotated[list[str], typer.Argument(help="Prepared dataset names.")],
) -> None:
    """Print the summary table of prepared datasets."""
    typer.echo(_summaries_table(names))


def _summaries_table(names: list[str]) -> str:
    from workbench.tasks.pipeline import summaries_table

    return summaries_table(names)


@content_app.command("build")
@_clean_errors
def content_build(
    name: DatasetArg,
    fusion: Annotated[bool, typer.Option(help="Fuse the tabular autoencoder code.")] = True,
    index_type: Annotated[str, typer.Option(help="flat, hnsw or ivf.")] = "flat",
    latent_dim: Annotated[int, typer.Option(help="Autoencoder code size.")] = 32,
    tabular_weight: Annotated[float, typer.Option(help="Weight of the tabular code.")] = 0.5,
) -> None:
    """Embed the catalog (cached), train the tabular branch, build and save the index."""
    from workbench.content import ContentConfig, build_content_index

    config = ContentConfig(dataset=name, fusion=fusion, index_type=index_type,
                           latent_dim=latent_dim, tabular_weight=tabular_weight)
    _, report = build_content_index(config)
    typer.echo(f"{name}: {report.items:,} items, {report.embedding.embedded:,} embedded, "
               f"dim {report.dim}, {report.seconds['total']:.1f}s")


def _print_results(frame) -> None:
    from workbench.data import display_title

    for row in frame.itertuples(index=False):
        typer.echo(f"{row.rank:>3}. {row.score:.3f}  {display_title(row.title, row.year)}  "
                   f"[{row.item_id}]")


@content_app.command("search")
@_clean_errors
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
@_clean_errors
def content_similar(
    name: DatasetArg,
    item_id: Annotated[int, typer.Argument(help="The seed item's id.")],
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
) -> None:
    """More like this: the items closest to ITEM_ID."""
    from workbench.content import load_content_engine

    _print_results(load_content_engine(name).similar(item_id, k))


@experiments_app.command("table")
@_clean_errors
def experiments_table(
    experiment: Annotated[str, typer.Argument(help="MLflow experiment name.")],
    group_by: Annotated[str, typer.Option(help="Comma-separated run parameters; the last is "
                                               "compared within the others.")] =
    "dataset,model",
    metric: Annotated[list[str] | None, typer.Option(help="Metric column (repeatable).")] =
    None,
    sweep: Annotated[str | None, typer.Option(help="Only the runs of this sweep.")] = None,
) -> None:
    """Markdown table of metric mean ± std over runs (e.g. seeds), grouped by parameters,
    with a paired Wilcoxon test of each group against the best (per-user test NDCG@10)."""
    from workbench.experiments import results_table
    from workbench.experiments.results import DEFAULT_METRICS

    table = results_table(experiment, tuple(g.strip() for g in group_by.split(",")),
                          tuple(metric) if metric else DEFAULT_METRICS, sweep=sweep)
    _print_markdown(table)


def _print_markdown(table) -> None:
    typer.echo(f"| {' | '.join(str(c) for c in table.columns)} |")
    typer.echo(f"|{'---|' * len(table.columns)}")
    for row in table.itertuples(index=False):
        typer.echo(f"| {' | '.join(str(v) for v in row)} |")


@experiments_app.command("best")
@_clean_errors
def experiments_best(
    sweep: Annotated[str, typer.Argument(help="A sweep with search spaces (file or name).")],
    write: Annotated[bool, typer.Option(help="Write the best values into experiments/tuned/"
                                             "<dataset>.yaml.")] = False,
) -> None:
    """Best parameters of each tuning study of a sweep (chosen on the validation objective),
    with trial counts and parameter importances."""
    from workbench.experiments.results import study_results, write_tuned

    spec = _find_sweep(sweep)
    results = study_results(spec)
    for r in results:
        if not r.get("trials_complete"):
            typer.echo(f"{r['variant']}: no finished trial")
            continue
        importance = ", ".join(f"{k} {v:.2f}" for k, v in r["importance"].items())
        typer.echo(f"{r['variant']}: best {r['best_value']:.4f} (trial {r['best_trial']}, "
                   f"{r['trials_complete']} of {r['trials']} finished)")
        typer.echo(f"    {r['best_params']}" + (f"\n    importance: {importance}"
                                                 if importance else ""))
        for name, values in r.get("best_by_choice", {}).items():
            shown = ", ".join(f"{choice} {value:.4f}" for choice, value in values.items())
            typer.echo(f"    best by {name}: {shown}")
    if write:
        for path in write_tuned(results, spec):
            typer.echo(f"wrote {path}")


@app.command("register-hybrid")
@_clean_errors
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


@app.command("report")
@_clean_errors
def report(
    output: Annotated[Path | None, typer.Option(help="Where to write (default: the "
                                                     "checkout's docs/results.md).")] = None,
) -> None:
    """Write the results page from MLflow and the tuning studies (the zoo on test, the
    studies on validation, each default sweep's latest runs): no figure typed by hand."""
    from workbench.experiments.report import write_report

    typer.echo(f"wrote {write_report(output)}")


@collab_app.command("models")
def collaborative_models() -> None:
    """List the registered models with their parameters (name, default, meaning)."""
    from workbench.collaborative import describe_models

    for m in describe_models():
        typer.secho(f"{m['name']}  ({', '.join(m['objectives'])}): {m['summary']}", bold=True)
        for p in m["params"]:
            typer.echo(f"    {p['name']:<18} {p['type']:<26} {p['default']!s:<12} {p['doc']}")


@collab_app.command("train")
@_clean_errors
def collaborative_train(
    dataset: DatasetArg,
    model: Annotated[str, typer.Option("--model", "-m", help="A registered model.")] = "ease",
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A hyperparameter, NAME=VALUE (YAML value; repeatable).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Model seed.")] = 42,
    tuned: Annotated[bool, typer.Option(help="Start from experiments/tuned/<dataset>.yaml."
                                        )] = True,
    save: Annotated[bool, typer.Option(help="Save under models/<dataset>/collaborative/.")] =
    True,
    register: Annotated[bool, typer.Option(help="Register in MLflow (champion alias moves on "
                                                "validation NDCG@10).")] = True,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "collaborative",
) -> None:
    """Train one model with the validation protocol, score the test split once, log it to
    MLflow (the job of notebook 03)."""
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
                                 f"({str(exc).splitlines()[0]})") from None
    result = train_collaborative(TrainTask(
        dataset=dataset, model=model, params=params, seed=seed, tuned=tuned, save_model=save,
        register_model=register, mlflow_experiment=experiment), log=typer.echo)
    typer.echo(f"run {result.run_id}; validation NDCG@10 "
               f"{result.metrics['val_full_ndcg_at_10']:.4f}, test NDCG@10 "
               f"{result.metrics['test_full_ndcg_at_10']:.4f}"
               + ("; now the champion" if result.champion else ""))


def _print_recommendations(title: str, recs) -> None:
    from workbench.data import display_title

    typer.secho(f"\n{title}  ({recs.summary()})", bold=True)
    for row in recs.frame.itertuples(index=False):
        typer.echo(f"{row.rank:>3}. {row.score:.3f}  {display_title(row.title, row.year)}  "
                   f"[{row.item_id}]")
        typer.echo(f"       {row.reason}")


@app.command("recommend")
@_clean_errors
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
    if query is not None or item is not None:
        _print_recommendations("Content match", rec.content_match(query, item, k, **options))
        if has_user:
            _print_recommendations("AI pick", rec.ai_pick(query, item, user, k, alpha,
                                                          liked=liked_ids, **options))
        else:
            typer.echo("\n(AI pick needs --user or --liked)")
    elif not feed:
        raise WorkbenchError("give --query or --item (and --user or --liked for AI pick), or "
                             "--feed with --user or --liked")
    if feed:
        _print_recommendations("For you", rec.personalized_feed(user, k, liked=liked_ids,
                                                                **options))


@app.command("franchises")
@_clean_errors
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


def _find_sweep(name: str):
    from workbench.tasks.pipeline import find_sweep

    return find_sweep(name)


@experiments_app.command("run")
@_clean_errors
def experiments_run(
    sweep: Annotated[str, typer.Argument(help="Sweep file (experiments/<name>.yaml) or name.")],
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Variants run in parallel.")] = 1,
    only: Annotated[list[str] | None, typer.Option(
        help="Run only this variant, or variant group of the sweep file (repeatable).")]
    = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; run nothing.")] = False,
    force: Annotated[bool, typer.Option(help="Rerun variants that already finished.")] = False,
) -> None:
    """Run a sweep: each variant through papermill, a child MLflow run under one parent."""
    from workbench.experiments import run_sweep

    report = run_sweep(_find_sweep(sweep), jobs=jobs, only=only, dry_run=dry_run, force=force)
    _print_sweep_report(report)
    if report.failed:
        raise typer.Exit(1)


def _print_sweep_report(report) -> None:
    typer.echo(f"\nsweep {report.sweep}" + (f" (parent run {report.parent_run_id})"
                                            if report.parent_run_id else ""))
    if report.orphans_killed:
        typer.echo(f"  marked KILLED: {report.orphans_killed} run(s) left RUNNING by an earlier "
                   f"invocation that was killed")
    for o in report.outcomes:
        seconds = f"{o.seconds:6.1f}s" if o.seconds else "       "
        value = f"  objective {o.value:.4f}" if o.value is not None and o.run_id else ""
        typer.echo(f"  {o.status:<9} {seconds}  {o.variant}  {o.run_id}{value}")
        if o.output.startswith("study:"):
            typer.echo(f"            {o.output}")
        if o.error and not o.output.startswith("study:"):
            typer.secho(f"            {o.error.splitlines()[0][:300]}", fg=typer.colors.RED)
    if report.failed:
        typer.secho(f"{len(report.failed)} variant(s) failed", err=True, fg=typer.colors.RED)


@experiments_app.command("compare")
@_clean_errors
def experiments_compare(
    sweep: Annotated[str, typer.Argument(help="Sweep file or name.")],
    metric: Annotated[list[str] | None, typer.Option(help="Metric to show (repeatable).")] =
    None,
    group_by: Annotated[str | None, typer.Option(
        help="Aggregate the sweep's runs by these comma-separated parameters (e.g. "
             "dataset,model over seeds): mean ± std and a paired Wilcoxon p-value against "
             "the best (markdown).")] = None,
) -> None:
    """Table and figure of the metrics across a sweep's variants (saved and logged)."""
    import mlflow

    from workbench.experiments import compare_sweep, results_table
    from workbench.experiments.results import DEFAULT_METRICS
    from workbench.experiments.sweeps import TAG_SWEEP, TAG_SWEEP_PARENT
    from workbench.settings import get_settings
    from workbench.storage import write_text

    spec = _find_sweep(sweep)
    if group_by:
        metrics = tuple(metric) if metric else tuple(spec.compare) or DEFAULT_METRICS
        _print_markdown(results_table(spec.experiment, tuple(g.strip() for g in
                                                             group_by.split(",")),
                                      metrics, sweep=spec.name))
        return
    table, figure = compare_sweep(spec, metrics=metric)
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    out = get_settings().runs_dir / spec.name
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "compare.csv", table.to_csv(index=False))
    figure.savefig(out / "compare.png", dpi=120)
    parents = mlflow.search_runs(
        experiment_names=[spec.experiment], output_format="list", max_results=1,
        filter_string=f"tags.`{TAG_SWEEP}` = '{spec.name}' and "
                      f"tags.`{TAG_SWEEP_PARENT}` = 'true'", order_by=["start_time DESC"])
    if parents:
        client = mlflow.MlflowClient()
        client.log_artifact(parents[0].info.run_id, str(out / "compare.csv"))
        client.log_figure(parents[0].info.run_id, figure, "compare.png")
    typer.echo(f"\nsaved {out / 'compare.csv'} and {out / 'compare.png'}"
               + (f"; logged to parent run {parents[0].info.run_id}" if parents else ""))


@items_app.command("add")
@_clean_errors
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
@_clean_errors
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


@app.command("pipeline")
@_clean_errors
def pipeline(
    datasets: Annotated[
        list[str] | None, typer.Option("--dataset", "-d", help="Datasets (default: all real).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Sweep variants in parallel.")] = 2,
) -> None:
    """The main job: fetch and prepare the datasets, build their content indexes, run each
    dataset's default sweep (experiments/<dataset>_default.yaml: content variants, the tuned
    model zoo, which registers the validation champion, then the hybrid's alpha; finished
    variants are skipped), make sure the champion is in models/, print a summary and what to
    open next (workbench.tasks.pipeline)."""
    from workbench.console import LIBRARY_LOG
    from workbench.experiments.sweeps import KERNEL_LOG
    from workbench.settings import get_settings
    from workbench.tasks.pipeline import example_request, run_pipeline

    settings = get_settings()
    result = run_pipeline(datasets, jobs, settings, log=typer.echo,
                          on_sweep=_print_sweep_report)
    from workbench.data import get_dataset

    demos = [n for n in result.datasets if get_dataset(n, settings).demo_query]
    shown = (demos or result.datasets)[0]  # a dataset with a demo query, where there is one
    typer.echo(f"\npipeline finished in {result.seconds:.1f}s")
    runs = settings.runs_dir
    typer.echo(f"start-up and library output: {runs / KERNEL_LOG} (notebook kernels), "
               f"{runs / LIBRARY_LOG} (TensorFlow, MLflow)")
    typer.echo("\nnext:\n  make mlflow-ui        # the runs, on http://127.0.0.1:5000\n"
               "  make dashboard        # content match vs AI pick: open the URL it prints "
               "(with its token)\n"
               f"  {example_request(shown, settings)}")
    if result.failed:
        raise WorkbenchError("some sweep variants failed (see above); rerun `make pipeline` "
                             "to retry only those")


def main() -> None:  # pragma: no cover - console entry point alias
    """Entry point for ``python -m workbench``."""
    app(prog_name="workbench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
