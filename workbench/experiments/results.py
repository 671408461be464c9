"""Reading results back from MLflow: metric tables over runs, and sweep comparisons."""

from __future__ import annotations

from workbench import WorkbenchError


def results_table(
    experiment: str, group_by: tuple[str, ...] = ("dataset", "model", "objective"),
    metrics: tuple[str, ...] = ("full_ndcg_at_10", "full_recall_at_10", "sampled_hr_at_10",
                                "rmse", "train_seconds"),
    settings=None,
):
    """Mean and standard deviation of ``metrics`` over the finished runs of ``experiment``,
    grouped by the run parameters ``group_by`` (one row per group; ``n`` counts the runs, e.g.
    the seeds). Metrics a group never logged (RMSE of an implicit model) are left empty."""
    import mlflow

    from workbench import tracking

    tracking.configure(settings)
    runs = mlflow.search_runs(experiment_names=[experiment], filter_string="status = 'FINISHED'")
    if runs.empty:
        raise WorkbenchError(f"MLflow experiment {experiment!r} has no finished runs")
    keys = [f"params.{g}" for g in group_by]
    missing = [k for k in keys if k not in runs.columns]
    if missing:
        raise WorkbenchError(f"runs of {experiment!r} have no parameter(s) {missing}")
    columns = [f"metrics.{m}" for m in metrics if f"metrics.{m}" in runs.columns]
    grouped = runs.groupby(keys)[columns]
    table = grouped.mean().round(4).astype(str) + " ± " + grouped.std(ddof=0).round(4).astype(str)
    table = table.where(grouped.mean().notna(), "")
    table.columns = [c.removeprefix("metrics.") for c in table.columns]
    table.insert(0, "n", grouped.size())
    table.index.names = list(group_by)
    return table.reset_index()


def sweep_runs(spec, settings=None):
    """The latest run of each variant of sweep ``spec`` (a :class:`SweepSpec`), newest first
    per variant: a DataFrame with ``variant``, ``status``, ``run_id``, ``error`` and every
    metric column (``metrics.*`` prefix dropped)."""
    import mlflow

    from workbench import tracking
    from workbench.experiments.sweeps import TAG_ERROR, TAG_SWEEP, TAG_VARIANT

    tracking.configure(settings)
    runs = mlflow.search_runs(experiment_names=[spec.experiment],
                              filter_string=f"tags.`{TAG_SWEEP}` = '{spec.name}'")
    column = f"tags.{TAG_VARIANT}"
    if runs.empty or column not in runs.columns or runs[column].isna().all():
        raise WorkbenchError(f"sweep {spec.name!r} has no runs in MLflow experiment "
                             f"{spec.experiment!r}; run `workbench experiments run` first")
    runs = runs[runs[column].notna()].sort_values("start_time", ascending=False)
    latest = runs.drop_duplicates(column)
    table = latest[[column, "status", "run_id"]].rename(columns={column: "variant"})
    error = f"tags.{TAG_ERROR}"
    table["error"] = latest[error].fillna("") if error in latest.columns else ""
    metrics = [c for c in latest.columns if c.startswith("metrics.")]
    for c in metrics:
        table[c.removeprefix("metrics.")] = latest[c]
    return table.sort_values("variant").reset_index(drop=True)


def compare_sweep(spec, settings=None, metrics: list[str] | None = None):
    """A table (variants x metrics) and a figure (one bar panel per metric) of a sweep's
    latest runs; ``metrics`` defaults to the sweep's ``compare`` list, else every metric that
    at least two variants logged (at most 8). Returns (table, figure)."""
    import matplotlib.pyplot as plt
    import numpy as np

    runs = sweep_runs(spec, settings)
    chosen = metrics or spec.compare
    if not chosen:
        counts = runs.drop(columns=["variant", "status", "run_id", "error"]).notna().sum()
        chosen = [m for m in counts.index if counts[m] >= 2][:8]
    missing = [m for m in chosen if m not in runs.columns]
    if missing:
        raise WorkbenchError(f"no variant of {spec.name!r} logged metric(s) {missing}")
    table = runs[["variant", "status", *chosen]]
    fig, axes = plt.subplots(1, max(1, len(chosen)), figsize=(4 * max(1, len(chosen)), 3.6),
                             squeeze=False)
    for ax, metric in zip(axes[0], chosen, strict=False):
        rows = table[table[metric].notna()]
        ax.barh(np.arange(len(rows)), rows[metric], color="tab:blue")
        ax.set_yticks(np.arange(len(rows)), rows["variant"], fontsize=8)
        ax.set(title=metric)
        ax.invert_yaxis()
    fig.suptitle(f"sweep {spec.name}")
    fig.tight_layout()
    return table, fig
