"""``workbench report``: the results page (``docs/results.md``) written from MLflow and the
tuning studies, so no figure in it is typed by hand.

Sections, each from what the store holds (a section whose runs do not exist yet says so):

1. the model zoo on the test split (``workbench experiments table zoo``: mean ± std over
   seeds, paired Wilcoxon test against the best per dataset);
2. the tuning studies of ``experiments/tune.yaml`` (validation objective: best value, trials
   finished, best parameters);
3. per-segment test metrics of the zoo (users by history length, held-out items by
   popularity: :mod:`workbench.experiments.segments`), with a paired test per segment;
4. each default sweep's latest run per variant (``experiments/<dataset>_default.yaml``),
   with the split each metric comes from in its name (``val_``, ``test_``).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from workbench import WorkbenchError
from workbench.settings import CHECKOUT, Settings, get_settings

SWEEPS_DIR = CHECKOUT / "experiments"
DEFAULT_OUTPUT = CHECKOUT / "docs" / "results.md"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame) -> str:
    """A DataFrame as a GitHub Markdown table (floats to 4 decimals, NaN empty)."""
    lines = [f"| {' | '.join(str(c) for c in frame.columns)} |",
             f"|{'---|' * len(frame.columns)}"]
    lines += [f"| {' | '.join(_cell(v) for v in row)} |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _zoo(settings: Settings) -> str:
    from workbench.experiments.results import DEFAULT_METRICS, results_table

    metrics = tuple(m for m in DEFAULT_METRICS if m != "test_rmse")
    try:
        table = results_table("zoo", ("dataset", "model"), metrics, settings)
    except WorkbenchError as exc:
        return f"_No zoo runs yet ({exc})._"
    return ("Test split (leave-last-out), full ranking, K=10; mean ± std over seeds; "
            "`p_vs_best`: paired Wilcoxon test of per-user test NDCG@10 against the best model "
            "of the dataset. Regenerate the runs with `workbench experiments run zoo`.\n\n"
            + markdown_table(table))


def _segments(settings: Settings) -> str:
    from workbench.experiments.segments import segment_comparison, wide_table
    from workbench.segments import HISTORY_BINS, POPULARITY_SHARES, RARE_RATINGS

    try:
        tables = segment_comparison("zoo", 10, settings)
    except WorkbenchError as exc:
        return f"_No per-segment results yet ({exc})._"
    head, torso = (f"{s:.0%}" for s in POPULARITY_SHARES)
    parts = [
        "The zoo's per-user test tables split by segment (mean over seeds per user, then over "
        f"the segment's users). Users by training interactions (bins ending at "
        f"{', '.join(map(str, HISTORY_BINS))}); the held-out item by training popularity: "
        f"`head` when more popular items hold under {head} of the training interactions, "
        f"`torso` under {torso}, else `tail`; `rare` for 1 to {RARE_RATINGS} interactions, "
        "`cold` for none. `n`: the best model's users in the segment; `p`: paired Wilcoxon "
        "test against the best model of the dataset overall (marked `(best)`), on the users "
        "both share. docs/collaborative.md explains the segments."]
    for dataset, long in sorted(tables.items()):
        if _synthetic(dataset, settings):
            continue
        for metric, name in (("ndcg_at_10", "NDCG@10"), ("recall_at_10", "Recall@10")):
            parts.append(f"### {dataset}: test {name} by segment\n\n"
                         + markdown_table(wide_table(long, metric)))
    return "\n\n".join(parts)


def _studies(settings: Settings) -> str:
    from workbench.experiments.results import study_results
    from workbench.experiments.spec import load_sweep

    path = SWEEPS_DIR / "tune.yaml"
    try:
        results = study_results(load_sweep(path), settings)
    except WorkbenchError as exc:
        return f"_No tuning studies yet ({exc})._"
    rows = []
    for r in results:
        done = r.get("trials_complete", 0)
        best = r.get("best_value")
        rows.append({"study": r["variant"],
                     "trials finished": f"{done} of {r['trials']}" if done else
                     "not in this store",
                     "best val NDCG@10": best if isinstance(best, float) else float("nan"),
                     "best parameters": ", ".join(f"{k}={v}" for k, v in
                                                  (r.get("best_params") or {}).items())})
    import pandas as pd

    return ("Validation NDCG@10 (each user's latest training interaction; seeded random for "
            "anime), Optuna TPE; `workbench experiments best tune` prints the same with "
            "parameter importances. A study \"not in this store\" has not run against this "
            "store (or its sweep definition changed since); the values models use are those "
            "in `experiments/tuned/`, written by `workbench experiments best tune --write`."
            "\n\n" + markdown_table(pd.DataFrame(rows)))


def _synthetic(dataset: str | None, settings: Settings) -> bool:
    """Whether ``dataset`` is generated test data (the results page shows real data only);
    an unknown or missing name is not."""
    from workbench.data import get_dataset

    try:
        return bool(dataset) and get_dataset(dataset, settings).synthetic
    except WorkbenchError:
        return False


def _default_sweeps(settings: Settings) -> str:
    from workbench.experiments.results import sweep_runs
    from workbench.experiments.spec import load_sweep

    parts = []
    seen = set()
    for path in sorted(SWEEPS_DIR.glob("*_default.yaml")) + sorted(
            settings.experiments_dir.glob("*_default.yaml")):
        spec = load_sweep(path)
        if spec.name in seen or _synthetic(spec.parameters.get("dataset"), settings):
            continue
        seen.add(spec.name)
        try:
            runs = sweep_runs(spec, settings)
        except WorkbenchError:
            continue
        columns = [c for c in spec.compare if c in runs.columns]
        parts.append(f"### {spec.name}\n\n" + markdown_table(
            runs[["variant", "status", *columns]]))
    return "\n\n".join(parts) or "_No default sweep has run yet (`make pipeline`)._"


def results_markdown(settings: Settings | None = None) -> str:
    """The whole results page."""
    settings = settings or get_settings()
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    home = f"sqlite:///{settings.home}/"
    stores = [uri.replace(home, "") for uri in (settings.mlflow_uri, settings.optuna_uri)]
    return "\n".join([
        "# Results",
        "",
        f"Generated by `workbench report` on {stamp} from the MLflow store "
        f"`{stores[0]}` and the tuning studies `{stores[1]}`; do not edit "
        "by hand (rerun the command). Metric names say their split: `val_*` is the "
        "validation carve (used to choose), `test_*` the test split (reported once).",
        "",
        "## The model zoo (test split)", "", _zoo(settings), "",
        "## The zoo by segment (test split)", "", _segments(settings), "",
        "## Tuning studies (validation)", "", _studies(settings), "",
        "## Default sweeps: latest run of each variant", "", _default_sweeps(settings), "",
    ])


def write_report(path: Path | None = None, settings: Settings | None = None) -> Path:
    """Write :func:`results_markdown` to ``path`` (default ``docs/results.md``) atomically."""
    from workbench.storage import write_text

    path = Path(path) if path else DEFAULT_OUTPUT
    write_text(path, results_markdown(settings))
    return path
