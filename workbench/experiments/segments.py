"""Per-segment comparison of an experiment's models (``workbench report``): each model's
per-user test table (``test_per_user.csv``, averaged over its runs) split into segments
(:mod:`workbench.segments`), with a paired Wilcoxon test per segment against the best model
of the dataset overall (by mean test NDCG@k), on the users both models share.

A table logged before the segment columns existed is annotated from the dataset's split in
the current home (the same train and test rows the run was scored on)."""

from __future__ import annotations

import pandas as pd

from workbench import WorkbenchError
from workbench import segments as seg

SEGMENT_COLUMNS = ("history", "item_popularity", "user_segment", "item_segment")


def _run_tables(run_ids, metrics: tuple[str, ...], tables=None) -> pd.DataFrame | None:
    """The per-user tables of ``run_ids`` averaged over runs
    (:func:`~workbench.experiments.results.per_user_means`), with the segment columns of the
    first; None when no run logged one."""
    from workbench.experiments.results import per_user_means

    values, first = per_user_means(run_ids, metrics, tables)
    if values is None:
        return None
    extra = [c for c in SEGMENT_COLUMNS if c in first.columns]
    if extra:
        values = values.join(first.set_index("user_id")[extra])
    return values.reset_index()


def _annotated(table: pd.DataFrame, dataset: str, split: str, settings, cache: dict
               ) -> pd.DataFrame:
    if {"user_segment", "item_segment"} <= set(table.columns) and \
            table["item_segment"].notna().all():
        return table
    if (dataset, split) not in cache:
        from workbench import data

        try:
            cache[(dataset, split)] = data.load_split(dataset, split, settings)
        except (WorkbenchError, OSError) as exc:
            raise WorkbenchError(f"per-user tables of {dataset!r} have no segment columns "
                                 f"and its split cannot be read: {exc}") from None
    parts = cache[(dataset, split)]
    return seg.annotate(table, parts.train, parts.test)


def segment_comparison(experiment: str = "zoo", k: int = 10, settings=None, runs=None,
                       tables=None) -> dict[str, pd.DataFrame]:
    """Per dataset (run parameter ``dataset``), a long table: ``model``, ``kind``,
    ``segment``, ``n`` (the model's users in the segment), mean ``ndcg_at_k`` and
    ``recall_at_k`` and their paired p-values against the best model (``p_ndcg_at_k``,
    ``p_recall_at_k``; NaN for the best itself), best model first, then by overall NDCG.
    ``runs`` and ``tables`` replace the store's runs and their per-user tables' reading, as
    in :func:`~workbench.experiments.results.results_table`."""
    from workbench.experiments.results import finished_runs, latest_per_variant

    metrics = (f"ndcg_at_{k}", f"recall_at_{k}")
    read = tables
    if runs is None:
        runs = finished_runs(experiment, settings)
    runs = latest_per_variant(runs)
    needed = ["params.dataset", "params.model"]
    if any(c not in runs.columns for c in needed):
        raise WorkbenchError(f"runs of {experiment!r} have no dataset and model parameters")
    runs = runs.dropna(subset=needed)
    if "params.split" not in runs.columns:
        runs = runs.assign(**{"params.split": "leave_last_out"})
    out, cache, problems = {}, {}, []
    for dataset, rows in runs.groupby("params.dataset"):
        tables = {}
        for (model, split), group in rows.groupby(["params.model", "params.split"]):
            table = _run_tables(group["run_id"], metrics, read)
            if table is None:
                continue
            try:
                tables[model] = _annotated(table, dataset, split, settings, cache)
            except WorkbenchError as exc:  # this dataset's data is not in the home
                problems.append(str(exc))
                tables = {}
                break
        if not tables:
            continue
        order = sorted(tables, key=lambda m: -tables[m][metrics[0]].mean())
        best = tables[order[0]]
        parts = []
        for model in order:
            table = seg.segment_metrics(tables[model], metrics)
            for metric in metrics:
                tests = seg.paired_segment_tests(tables[model], best, metric)
                p = tests.set_index(["kind", "segment"])["p"]
                table[f"p_{metric}"] = (float("nan") if model == order[0] else
                                        [p.get((a, b)) for a, b in
                                         zip(table["kind"], table["segment"], strict=True)])
            parts.append(table.assign(model=model))
        out[str(dataset)] = pd.concat(parts, ignore_index=True)[
            ["model", "kind", "segment", "n", *metrics, *(f"p_{m}" for m in metrics)]]
    if not out:
        raise WorkbenchError(problems[0] if problems else
                             f"no run of {experiment!r} logged a per-user test table")
    return out


def wide_table(long: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One dataset's :func:`segment_comparison` as segments x models: each cell the mean
    ``metric`` and its p-value against the best (``0.0538 (p=0.76)``), the best model's
    column marked ``(best)``; ``n`` the best model's users in the segment."""
    models = list(dict.fromkeys(long["model"]))
    best = models[0]
    rows = []
    keys = long[["kind", "segment"]].drop_duplicates().itertuples(index=False)
    for kind, segment in keys:
        block = long[(long["kind"] == kind) & (long["segment"] == segment)].set_index("model")
        row = {"segment": f"{seg.KINDS[kind]}: {segment}",
               "n": int(block.loc[best, "n"]) if best in block.index else 0}
        for model in models:
            column = f"{model} (best)" if model == best else model
            if model not in block.index:
                row[column] = ""
                continue
            value, p = block.loc[model, metric], block.loc[model, f"p_{metric}"]
            row[column] = (f"{value:.4f}" if model == best else
                           f"{value:.4f} (p={'n/a' if p != p else f'{p:.2g}'})")
        rows.append(row)
    return pd.DataFrame(rows)
