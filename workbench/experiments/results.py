"""Reading results back from MLflow: metric tables over runs, and sweep comparisons."""

from __future__ import annotations

import io

from workbench import WorkbenchError
from workbench.storage import read_yaml

DEFAULT_METRICS = ("test_full_ndcg_at_10", "test_full_recall_at_10", "val_full_ndcg_at_10",
                   "test_ncf_hr_at_10", "test_ncf_ndcg_at_10", "test_rmse", "train_seconds")


def finished_runs(experiment: str, settings=None, sweep: str | None = None):
    """The FINISHED runs of ``experiment`` (of one ``sweep``, if given) that trained
    something (tuning trials and sweep parents left out), as MLflow's DataFrame."""
    import mlflow

    from workbench import tracking
    from workbench.experiments.bookkeeping import TAG_SWEEP

    tracking.configure(settings)
    where = "status = 'FINISHED'" + (f" and tags.`{TAG_SWEEP}` = '{sweep}'" if sweep else "")
    runs = (mlflow.search_runs(experiment_names=[experiment], filter_string=where)
            if mlflow.get_experiment_by_name(experiment) else None)
    if runs is None or runs.empty:
        from workbench.experiments.names import no_finished_runs

        raise no_finished_runs(experiment, sweep, settings)
    if "tags.workbench.study" in runs.columns:  # tuning trials: read them with `best`
        runs = runs[runs["tags.workbench.study"].isna()]
    if "tags.workbench.sweep_parent" in runs.columns:
        runs = runs[runs["tags.workbench.sweep_parent"].fillna("") != "true"]
    return runs


def latest_per_variant(runs):
    """Each sweep variant's latest finished run: a variant rerun with other parameters (a
    tuned value) replaces its earlier run instead of joining it as another seed. Runs not
    made by a sweep all stay."""
    import pandas as pd

    from workbench.experiments.bookkeeping import TAG_SWEEP, TAG_VARIANT

    variant = f"tags.{TAG_VARIANT}"
    if runs.empty or variant not in runs.columns:
        return runs
    tagged = runs[variant].notna()
    keys = [c for c in (f"tags.{TAG_SWEEP}", variant) if c in runs.columns]
    latest = runs[tagged].sort_values("start_time").drop_duplicates(keys, keep="last")
    return pd.concat([latest, runs[~tagged]])


def results_table(
    experiment: str, group_by: tuple[str, ...] = ("dataset", "model", "objective"),
    metrics: tuple[str, ...] = DEFAULT_METRICS, settings=None,
    significance: str | None = "test_full_ndcg_at_10", sweep: str | None = None,
    runs=None, tables=None,
):
    """Mean ± sample standard deviation of ``metrics`` over the finished runs of
    ``experiment`` (each sweep variant's latest: :func:`latest_per_variant`), grouped by
    the run parameters ``group_by`` (one row per group; ``n`` counts the runs, e.g. the
    seeds). Metrics a group never logged (RMSE of an implicit
    model) are left empty.

    With ``significance`` (a ``test_full_*`` metric whose runs logged ``test_per_user.csv``),
    the groups are compared within each value of the other keys (e.g. per dataset, when the
    last key is the model): the best group by mean is marked, and every other one gets the
    p-value of a two-sided Wilcoxon signed-rank test of its per-user values (averaged over
    its runs) against the best's, paired by user (column ``p_vs_best``).

    ``runs`` (MLflow's DataFrame) replaces the store's finished runs, and ``tables`` (run id
    -> per-user table or None) the reading of their ``test_per_user.csv``: the results page
    passes the store's runs with its archive's (:mod:`workbench.experiments.archive`).
    """
    import numpy as np

    if runs is None:
        runs = finished_runs(experiment, settings, sweep)
    runs = latest_per_variant(runs)
    keys = [f"params.{g}" for g in group_by]
    missing = [k for k in keys if k not in runs.columns]
    if missing:
        raise WorkbenchError(f"runs of {experiment!r} have no parameter(s) {missing}")
    runs = runs.dropna(subset=keys)
    for name in ("objective", "split"):  # a mean over ranking and rating runs means nothing
        column = f"params.{name}"
        if column in runs.columns and column not in keys and \
                runs.groupby(keys)[column].nunique().max() > 1:
            raise WorkbenchError(f"runs of {experiment!r} mix values of {name!r} within a "
                                 f"group; add it to --group-by")
    columns = [f"metrics.{m}" for m in metrics if f"metrics.{m}" in runs.columns]
    grouped = runs.groupby(keys)[columns]
    mean, std, count = grouped.mean(), grouped.std(ddof=1), grouped.size()
    if columns:  # a group that logged none of the metrics (content runs) is left out
        logged = mean.notna().any(axis=1)
        mean, std, count = mean[logged], std[logged], count[logged]
    table = mean.map(lambda v: f"{v:.4f}") + std.map(lambda v: "" if v != v else f" ± {v:.4f}")
    table = table.where(mean.notna(), "")
    table.columns = [c.removeprefix("metrics.") for c in table.columns]
    table.insert(0, "n", count)
    table.index.names = list(group_by)
    table = table.reset_index()
    metric_column = f"metrics.{significance}" if significance else None
    if metric_column in runs.columns and len(group_by) >= 1:
        table["p_vs_best"] = ""
        blocks = list(group_by[:-1])
        means = mean[metric_column].reset_index()
        means.columns = [*group_by, "value"]
        for _, block in (means.groupby(blocks) if blocks else [((), means)]):
            block = block.dropna(subset=["value"])
            if block.empty:
                continue
            best = block.loc[block["value"].idxmax()]
            per_user = {tuple(row[list(group_by)]): _per_user_mean(
                runs, keys, tuple(row[list(group_by)]), significance, tables) for _, row in
                block.iterrows()}
            best_key = tuple(best[list(group_by)])
            for key, values in per_user.items():
                where = np.ones(len(table), bool)
                for name, value in zip(group_by, key, strict=True):
                    where &= (table[name] == value).to_numpy()
                if key == best_key:
                    table.loc[where, "p_vs_best"] = "best"
                else:
                    table.loc[where, "p_vs_best"] = paired_wilcoxon(values, per_user[best_key])
    return table


def per_user_table(run_id: str):
    """The per-user test table a run logged (``test_per_user.csv``) as a DataFrame; None
    when it has none (an older run)."""
    import mlflow
    import pandas as pd

    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/test_per_user.csv")
    except Exception:  # a run without the table (an older run)
        return None
    return pd.read_csv(io.StringIO(text))


def _per_user_mean(runs, keys: list[str], key: tuple, metric: str, tables=None):
    """The per-user values of ``metric`` averaged over the group's runs
    (:func:`per_user_means`): a Series indexed by user id (None when no run logged it)."""
    column = metric.removeprefix("test_full_")
    rows = runs
    for k, v in zip(keys, key, strict=True):
        rows = rows[rows[k] == v]
    means, _ = per_user_means(rows["run_id"], (column,), tables)
    return None if means is None else means[column]


def per_user_means(run_ids, metrics: tuple[str, ...], tables=None):
    """Of the runs whose per-user table (read by ``tables``: :func:`per_user_table` by
    default) has every one of ``metrics``: those columns averaged over the runs, indexed by
    user id, and the first such table (its other columns: segments); ``(None, None)`` when no
    run has them."""
    import pandas as pd

    found = []
    for run_id in run_ids:
        frame = (tables or per_user_table)(run_id)
        if frame is not None and all(m in frame.columns for m in metrics):
            found.append(frame)
    if not found:
        return None, None
    return (pd.concat([t[["user_id", *metrics]] for t in found]).groupby("user_id").mean(),
            found[0])


def paired_wilcoxon(values, best) -> str:
    """Two-sided Wilcoxon signed-rank p-value of ``values`` vs ``best``, paired by user."""
    from scipy.stats import wilcoxon

    if values is None or best is None:
        return "n/a"
    paired = values.to_frame("a").join(best.to_frame("b"), how="inner")
    diff = paired["a"] - paired["b"]
    if len(paired) < 2 or not diff.any():
        return "1.0"
    p = float(wilcoxon(paired["a"], paired["b"]).pvalue)
    return f"{p:.2g}"


def study_results(spec, settings=None, base=None) -> list[dict]:
    """For each tuning study of sweep ``spec``: the variant, its dataset and model, and the
    study's summary (best value and parameters, trials, importances)."""
    from workbench.experiments import tuning
    from workbench.experiments.spec import expand
    from workbench.settings import get_settings

    settings = settings or get_settings()
    out = []
    for variant in expand(spec, base):
        if variant.search is None:
            continue
        name = tuning.study_name(spec.experiment, variant.name, variant.params_hash)
        try:
            study = tuning.load_study(name, settings.optuna_uri)
        except WorkbenchError:  # not run yet (or its parameters changed since)
            info = {"trials_complete": 0}
        else:
            info = tuning.summary(study)
        if "best_params" in info:
            info["best_params"] = tuning.decode_params(variant.search, info["best_params"])
        out.append({"variant": variant.name, "dataset": variant.parameters.get("dataset"),
                    "model": variant.parameters.get("model"), "study": name,
                    "trials": variant.search.trials,
                    "fixed_params": dict(variant.parameters.get("params") or {}), **info})
    if not out:
        raise WorkbenchError(f"sweep {spec.name!r} has no variant with a search space")
    return out


def write_tuned(results: list[dict], spec, settings=None) -> list:
    """Write each study's best ``params.*`` values (with the variant's fixed ``params``) into
    ``<experiments_dir>/tuned/<dataset>.yaml`` under its model (other models' entries kept).
    Returns the paths."""
    import yaml

    from workbench.experiments.spec import merge_parameters
    from workbench.settings import get_settings
    from workbench.storage import write_text

    settings = settings or get_settings()
    by_dataset: dict[str, list[dict]] = {}
    for r in results:
        if r.get("best_params") and r["dataset"] and r["model"]:
            by_dataset.setdefault(r["dataset"], []).append(r)
    paths = []
    for dataset, rows in by_dataset.items():
        path = settings.tuned_file(dataset)
        doc = (read_yaml(path, "tuned values", WorkbenchError) or {}) if path.is_file() else {}
        if not isinstance(doc, dict):
            raise WorkbenchError(f"{path}: expected a mapping of model name -> parameters")
        for r in rows:
            params = {k.removeprefix("params."): v for k, v in r["best_params"].items()
                      if k.startswith("params.")}
            doc[r["model"]] = merge_parameters(r.get("fixed_params", {}), params)
        header = (f"# Hyperparameters chosen on validation NDCG@10 (never on test) by tuning "
                  f"studies;\n# written by `workbench experiments best {spec.name} --write`. "
                  f"Notebook 03 and the\n# sweeps start from these (tuned=True); the study of "
                  f"each model is in MLflow\n# experiment {spec.experiment!r} and in "
                  f"experiments/optuna.db.\n")
        write_text(path, header + yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths


def sweep_runs(spec, settings=None):
    """The latest run of each variant of sweep ``spec`` (a :class:`SweepSpec`), newest first
    per variant: a DataFrame with ``variant``, ``status``, ``run_id``, ``error`` and every
    metric column (``metrics.*`` prefix dropped)."""
    import mlflow
    import pandas as pd

    from workbench import tracking
    from workbench.experiments.bookkeeping import TAG_ERROR, TAG_SWEEP, TAG_VARIANT

    tracking.configure(settings)
    runs = (mlflow.search_runs(experiment_names=[spec.experiment],
                               filter_string=f"tags.`{TAG_SWEEP}` = '{spec.name}'")
            if mlflow.get_experiment_by_name(spec.experiment) else pd.DataFrame())
    column = f"tags.{TAG_VARIANT}"
    if runs.empty or column not in runs.columns or runs[column].isna().all():
        raise WorkbenchError(f"sweep {spec.name!r} has no runs in MLflow experiment "
                             f"{spec.experiment!r}; run `workbench experiments run "
                             f"{spec.name}` first")
    runs = runs[runs[column].notna()].sort_values("start_time", ascending=False)
    latest = runs.drop_duplicates(column)
    table = latest[[column, "status", "run_id"]].rename(columns={column: "variant"})
    error = f"tags.{TAG_ERROR}"
    table["error"] = latest[error].fillna("") if error in latest.columns else ""
    metrics = [c for c in latest.columns if c.startswith("metrics.")]
    values = latest[metrics].rename(columns=lambda c: c.removeprefix("metrics."))
    table = pd.concat([table, values], axis=1)  # one insert: no fragmentation warning
    return table.sort_values("variant").reset_index(drop=True)


def compare_sweep(spec, settings=None, metrics: list[str] | None = None):
    """A table (variants x metrics) and a figure (one bar panel per metric) of a sweep's
    latest runs; ``metrics`` defaults to the sweep's ``compare`` list (those of its metrics
    some variant logged: a sweep run with ``--only`` lacks the others), else every metric
    that at least two variants logged (at most 8). Returns (table, figure)."""
    import matplotlib.pyplot as plt
    import numpy as np

    runs = sweep_runs(spec, settings)
    chosen = metrics or spec.compare
    if not chosen:
        counts = runs.drop(columns=["variant", "status", "run_id", "error"]).notna().sum()
        chosen = [m for m in counts.index if counts[m] >= 2][:8]
    missing = [m for m in chosen if m not in runs.columns]
    if missing and (metrics or len(missing) == len(chosen)):  # the sweep's own `compare`
        raise WorkbenchError(f"no variant of {spec.name!r} logged metric(s) {missing}")
    chosen = [m for m in chosen if m in runs.columns]  # list: those its variants logged
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


def save_comparison(spec, table, figure, settings=None, log: bool = False
                    ) -> tuple[tuple, str | None]:
    """Write a sweep's comparison (:func:`compare_sweep`) as ``<runs_dir>/<sweep>/compare.csv``
    and ``compare.png`` (``experiments/runs/<sweep>/`` of the home, never the current
    folder); with ``log``, also log both to the sweep's latest parent run. Returns the two
    paths and the run id logged to (None when not logged)."""
    import mlflow

    from workbench import tracking
    from workbench.experiments.bookkeeping import TAG_SWEEP, TAG_SWEEP_PARENT
    from workbench.settings import get_settings
    from workbench.storage import write_bytes, write_text

    settings = settings or get_settings()
    out = settings.runs_dir / spec.name
    out.mkdir(parents=True, exist_ok=True)
    csv, png = out / "compare.csv", out / "compare.png"
    write_text(csv, table.to_csv(index=False))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    write_bytes(png, buffer.getvalue())
    if not log:
        return (csv, png), None
    tracking.configure(settings)
    parents = mlflow.search_runs(
        experiment_names=[spec.experiment], output_format="list", max_results=1,
        filter_string=f"tags.`{TAG_SWEEP}` = '{spec.name}' and "
                      f"tags.`{TAG_SWEEP_PARENT}` = 'true'", order_by=["start_time DESC"])
    if not parents:
        return (csv, png), None
    client = mlflow.MlflowClient()
    client.log_artifact(parents[0].info.run_id, str(csv))
    client.log_artifact(parents[0].info.run_id, str(png))
    return (csv, png), parents[0].info.run_id
