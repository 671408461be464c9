"""`workbench experiments ...`, `report` and `pipeline`: sweeps run and compared, tuned values
written, the results page, and the main job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from workbench import WorkbenchError
from workbench.cli.app import (
    app,
    clean_errors,
    experiments_app,
)


@experiments_app.command("table")
@clean_errors
def experiments_table(
    experiment: Annotated[str, typer.Argument(
        help="A sweep (file or name, e.g. movies_default) or an MLflow experiment (e.g. "
             "movies-default).")],
    group_by: Annotated[str, typer.Option(help="Comma-separated run parameters; the last is "
                                               "compared within the others.")] =
    "dataset,model",
    metric: Annotated[list[str] | None, typer.Option(help="Metric column (repeatable).")] =
    None,
    sweep: Annotated[str | None, typer.Option(help="Only the runs of this sweep.")] = None,
) -> None:
    """Markdown table of metric mean ± std over runs (e.g. seeds), grouped by parameters,
    with a paired Wilcoxon test of each group against the best (per-user test NDCG@10).
    Every finished run of the MLflow experiment counts (each sweep variant's latest)."""
    from workbench.experiments import results_table
    from workbench.experiments.names import find_experiment
    from workbench.experiments.results import DEFAULT_METRICS

    experiment, _ = find_experiment(experiment)
    table = results_table(experiment, tuple(g.strip() for g in group_by.split(",")),
                          tuple(metric) if metric else DEFAULT_METRICS, sweep=sweep)
    _print_markdown(table)


def _print_markdown(table) -> None:
    typer.echo(f"| {' | '.join(str(c) for c in table.columns)} |")
    typer.echo(f"|{'---|' * len(table.columns)}")
    for row in table.itertuples(index=False):
        typer.echo(f"| {' | '.join(str(v) for v in row)} |")


@experiments_app.command("best")
@clean_errors
def experiments_best(
    sweep: Annotated[str, typer.Argument(help="A sweep with search spaces (file, name or "
                                              "MLflow experiment).")],
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


@app.command("report")
@clean_errors
def report(
    output: Annotated[Path | None, typer.Option(help="Where to write (default: the "
                                                     "checkout's docs/results.md).")] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        help="Regenerate only this dataset's section (repeatable; default: every dataset "
             "the store holds). Other sections of the page are kept.")] = None,
) -> None:
    """Write the results page from MLflow and the tuning studies, one section per dataset
    (the zoo on test and by segment, the studies on validation, the default sweep's latest
    runs): no figure typed by hand. Sections of datasets this store does not hold are kept
    as they were, so results from several homes combine."""
    from workbench.experiments.report import write_report

    typer.echo(f"wrote {write_report(output, datasets=dataset)}")


def _find_sweep(name: str):
    from workbench.experiments.names import find_sweep

    return find_sweep(name)


@experiments_app.command("run")
@clean_errors
def experiments_run(
    sweep: Annotated[str, typer.Argument(help="Sweep file (experiments/<name>.yaml), name or "
                                              "MLflow experiment.")],
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Variants run in parallel.")] = 1,
    only: Annotated[list[str] | None, typer.Option(
        help="Run only this variant, or variant group of the sweep file (repeatable).")]
    = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; run nothing.")] = False,
    force: Annotated[bool, typer.Option(help="Rerun variants that already finished.")] = False,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="ADDRESS",
        help="Run the variants as tasks on the Ray cluster at ADDRESS (HOST:PORT of `ray "
             "start --head`, auto, or local: a throwaway instance here with -j CPUs); "
             "default: WORKBENCH_RAY_ADDRESS, else the local pool.")] = None,
) -> None:
    """Run a sweep: each variant through papermill, a child MLflow run under one parent."""
    from contextlib import nullcontext

    from workbench.experiments import run_sweep
    from workbench.settings import get_settings

    settings = get_settings()
    spec = _find_sweep(sweep)
    address = ray or settings.ray_address
    executor = None
    if address and not dry_run:
        from workbench.experiments import expand
        from workbench.experiments.ray_executor import sweep_executor

        variants = expand(spec)  # a bad sweep file fails before the cluster is asked
        executor = sweep_executor(address, jobs, settings,
                                  studies=any(v.search is not None for v in variants))
    with executor or nullcontext():
        report = run_sweep(spec, settings, jobs=jobs, only=only, dry_run=dry_run, force=force,
                           executor=executor)
    _print_sweep_report(report)
    if report.failed:
        raise typer.Exit(1)


@app.command("tracking-server")
@clean_errors
def tracking_server(
    port: Annotated[int, typer.Option(help="The MLflow server's port on 127.0.0.1.")] = 5000,
    pg_port: Annotated[int, typer.Option(help="PostgreSQL's port on 127.0.0.1.")] = 5433,
    pg_data: Annotated[Path | None, typer.Option(
        help="The PostgreSQL cluster's folder, created on first use and kept (default: "
             "experiments/.postgres).")] = None,
    artifacts: Annotated[Path | None, typer.Option(
        help="Where the server keeps the artifacts (default: experiments/server-artifacts)."
    )] = None,
    backend_store_uri: Annotated[str | None, typer.Option(
        help="Use this existing database (postgresql://user:password@host:5432/mlflow) "
             "instead of starting PostgreSQL.")] = None,
) -> None:
    """Run a tracking server several machines can share until Ctrl-C: PostgreSQL (databases
    mlflow and optuna, for the runs and the tuning studies) and `mlflow server
    --serve-artifacts`, on 127.0.0.1 (logs in experiments/runs/; docs/cluster.md)."""
    import signal
    import time

    from workbench.settings import get_settings
    from workbench.tracking_server import optuna_uri
    from workbench.tracking_server import tracking_server as serve

    settings = get_settings()
    pg_data = pg_data or settings.experiments_dir / ".postgres"
    artifacts = artifacts or settings.experiments_dir / "server-artifacts"

    def interrupt(number, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops the children too
    with serve(port, pg_port, pg_data, artifacts, settings.runs_dir, backend_store_uri) as url:
        store = "the given database" if backend_store_uri else f"PostgreSQL in {pg_data}"
        studies = ("  # tuning studies: a database of your own in WORKBENCH_OPTUNA_URI"
                   if backend_store_uri else
                   f"  export WORKBENCH_OPTUNA_URI={optuna_uri(pg_port)}")
        typer.echo(f"tracking server on {url} ({store}, artifacts in {artifacts}); Ctrl-C "
                   f"stops it\n  export WORKBENCH_MLFLOW_URI={url}\n{studies}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopping")


@experiments_app.command("ui-link")
@clean_errors
def experiments_ui_link(
    port: Annotated[int, typer.Option(help="The MLflow UI's port on 127.0.0.1.")] = 5000,
) -> None:
    """Print, for each experiment with trained models, the MLflow UI link that opens its
    model table (validation and test NDCG@10, best first); stores the table's saved view in
    the experiment and names older runs' notebooks (docs/sweeps.md#the-mlflow-ui)."""
    from workbench.experiments.mlflow_ui import HOST, prepare

    links = prepare(base_url=f"http://{HOST}:{port}")
    for name, link in links:
        typer.echo(f"{name}: {link}")
    if not links:
        typer.echo("no experiment has trained models yet (`make pipeline`)")


@app.command("mlflow-ui")
@clean_errors
def mlflow_ui(
    port: Annotated[int, typer.Option(help="The MLflow UI's port on 127.0.0.1.")] = 5000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """`make mlflow-ui`: the MLflow UI on 127.0.0.1 until Ctrl-C (one server process, no
    GenAI job runner: it answers in seconds), and the link to each experiment's model table
    (`experiments ui-link`); its log is experiments/runs/mlflow-ui.log."""
    import signal
    import time

    from workbench import tracking
    from workbench.experiments.mlflow_ui import HOST, prepare, ui_server, wait_ready
    from workbench.settings import get_settings

    settings = get_settings()
    uri = tracking.configure(settings)
    if uri.startswith(("http://", "https://")):
        for name, link in prepare(settings, base_url=uri):
            typer.echo(f"{name}: {link}")
        typer.echo(f"the runs are on the tracking server {uri}: it serves the UI itself")
        return
    base = f"http://{HOST}:{port}"
    log = settings.runs_dir / "mlflow-ui.log"

    def interrupt(number, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops the server too
    started = time.monotonic()
    with ui_server(uri, port, log, workers) as process:
        links = prepare(settings, base_url=base)  # while the server starts
        wait_ready(process, port, log)
        typer.echo(f"MLflow UI on {base} (answered after {time.monotonic() - started:.0f} s;"
                   f" log: {log}); "
                   f"Ctrl-C stops it")
        for name, link in links:
            typer.echo(f"  {name}: {link}")
        if links:
            typer.echo("  (each opens the experiment's trained models, best validation "
                       "NDCG@10 first)")
        try:
            while process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            typer.echo("stopping")
            return
    raise WorkbenchError(f"mlflow ui stopped (exit code {process.returncode}); its log: "
                         f"{log}")


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
    for note in report.notes:
        typer.echo(f"  note: {note}")
    if report.failed:
        typer.secho(f"{len(report.failed)} variant(s) failed", err=True, fg=typer.colors.RED)


@experiments_app.command("compare")
@clean_errors
def experiments_compare(
    sweep: Annotated[str, typer.Argument(help="Sweep file, name (movies_default) or MLflow "
                                              "experiment (movies-default).")],
    metric: Annotated[list[str] | None, typer.Option(help="Metric to show (repeatable).")] =
    None,
    group_by: Annotated[str | None, typer.Option(
        help="Aggregate the sweep's runs by these comma-separated parameters (e.g. "
             "dataset,model over seeds): mean ± std and a paired Wilcoxon p-value against "
             "the best (markdown).")] = None,
    log: Annotated[bool, typer.Option(
        "--log", help="Also log compare.csv and compare.png to the sweep's latest parent "
                      "run in MLflow.")] = False,
) -> None:
    """Table and figure of the metrics across a sweep's variants (each variant's latest
    run), saved as experiments/runs/<sweep>/compare.csv and compare.png (the paths are
    printed); --log also logs them to the sweep's latest parent run."""
    from workbench.experiments import compare_sweep, results_table
    from workbench.experiments.results import DEFAULT_METRICS, save_comparison

    spec = _find_sweep(sweep)
    if group_by:
        metrics = tuple(metric) if metric else tuple(spec.compare) or DEFAULT_METRICS
        _print_markdown(results_table(spec.experiment, tuple(g.strip() for g in
                                                             group_by.split(",")),
                                      metrics, sweep=spec.name))
        return
    table, figure = compare_sweep(spec, metrics=metric)
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    paths, run_id = save_comparison(spec, table, figure, log=log)
    typer.echo(f"\nsaved {paths[0]} and {paths[1]}"
               + (f"; logged to parent run {run_id}" if run_id else
                  "; no parent run to log to" if log else ""))


@app.command("pipeline")
@clean_errors
def pipeline(
    datasets: Annotated[
        list[str] | None,
        typer.Option("--dataset", "-d", help="Datasets (default: movies, anime, ml1m)."),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Sweep variants in parallel.")] = 2,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="ADDRESS",
        help="Run the sweeps' variants as tasks on the Ray cluster at ADDRESS (as for "
             "`experiments run --ray`); default: WORKBENCH_RAY_ADDRESS, else the local "
             "pool.")] = None,
) -> None:
    """The main job: fetch and prepare the datasets, build their content indexes, run each
    dataset's default sweep (experiments/<dataset>_default.yaml: content variants, the tuned
    model zoo, which registers the validation champion, then the hybrid's alpha; finished
    variants are skipped), make sure the champion is in models/, print a summary and what to
    open next (workbench.tasks.pipeline). With --ray the variants run on a Ray cluster
    (docs/cluster.md)."""
    import mlflow

    from workbench.console import LIBRARY_LOG
    from workbench.data import get_dataset
    from workbench.experiments.executor import KERNEL_LOG
    from workbench.experiments.mlflow_ui import ui_link
    from workbench.settings import get_settings
    from workbench.tasks.pipeline import example_request, run_pipeline

    settings = get_settings()
    if ray:
        settings = settings.model_copy(update={"ray_address": ray})
    result = run_pipeline(datasets, jobs, settings, log=typer.echo,
                          on_sweep=_print_sweep_report)
    demos = [n for n in result.datasets if get_dataset(n, settings).demo_query]
    shown = (demos or result.datasets)[0]  # a dataset with a demo query, where there is one
    typer.echo(f"\npipeline finished in {result.seconds:.1f}s")
    runs = settings.runs_dir
    typer.echo(f"start-up and library output: {runs / KERNEL_LOG} (notebook kernels), "
               f"{runs / LIBRARY_LOG} (TensorFlow, MLflow)")
    port = os.environ.get("MLFLOW_PORT", "5000")  # the Makefile's variable, if exported
    typer.echo(f"\nnext:\n  make mlflow-ui        # the runs, on http://127.0.0.1:{port}; "
               f"then open each sweep's model table:")
    for sweep, _ in result.sweeps:
        experiment = mlflow.get_experiment_by_name(sweep.experiment)
        if experiment is not None:
            typer.echo(f"    {ui_link(experiment.experiment_id, f'http://127.0.0.1:{port}')}")
    typer.echo("  make dashboard        # content match vs AI pick: open the URL it prints "
               "(with its token)\n"
               f"  {example_request(shown, settings)}")
    if result.failed:
        raise WorkbenchError("some sweep variants failed (see above); rerun `make pipeline` "
                             "to retry only those")
