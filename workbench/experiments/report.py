"""``workbench report``: the results page (``docs/results.md``) written from MLflow and the
tuning studies, so no figure in it is typed by hand.

One section per dataset, between ``<!-- report: NAME -->`` and ``<!-- /report: NAME -->``
markers, each stamped with when and from which stores it was generated. A report rewrites
the sections of the datasets its store holds (or those asked for with ``datasets``) and
keeps every other section of the page as it was: results of datasets run in different homes
(ml1m's hour-long zoo on a bigger machine, movies and anime on a laptop) combine into one
page without rerunning any of them. A page without markers (an older page) is replaced.

Each section, from what the store holds (a part whose runs do not exist says so):

1. the model zoo on the test split (``workbench experiments table zoo``: mean ± std over
   seeds, paired Wilcoxon test against the best), with the blend against the best single
   model (the issue-27 bar: at least 1.05x with p < 0.05);
2. per-segment test metrics of the zoo (users by history length, held-out items by
   popularity: :mod:`workbench.experiments.segments`), with a paired test per segment;
3. the tuning studies of ``experiments/tune.yaml`` (validation objective: best value,
   trials finished, best parameters);
4. the dataset's default sweep, latest run per variant (``experiments/<dataset>_default.yaml``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

from workbench import WorkbenchError
from workbench.data.registry import get_dataset
from workbench.settings import CHECKOUT, Settings, get_settings

SWEEPS_DIR = CHECKOUT / "experiments"
DEFAULT_OUTPUT = CHECKOUT / "docs" / "results.md"
BLEND_BAR = 1.05  # the blend must beat the best single model by this factor (p < 0.05)
_BLOCK = re.compile(r"<!-- report: (?P<name>[\w.-]+) -->\n.*?<!-- /report: (?P=name) -->\n",
                    re.S)


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


def _mean(cell: object) -> float:
    """The mean of a ``results_table`` cell (``0.0538 ± 0.0012``), NaN when empty."""
    try:
        return float(str(cell).split("±")[0])
    except ValueError:
        return float("nan")


def blend_verdict(table) -> str:
    """One dataset's zoo table (``results_table`` rows, one per model) -> a sentence on the
    blend against the best single model: the ratio of mean test NDCG@10 and the paired
    p-value, and whether the bar (:data:`BLEND_BAR`, p < 0.05) is met."""
    metric = "test_full_ndcg_at_10"
    means = {row["model"]: _mean(row[metric]) for _, row in table.iterrows()}
    if "blend" not in means or len(means) < 2:
        return "_No blend and single models to compare in this store._"
    singles = {m: v for m, v in means.items() if m != "blend" and v == v}
    best = max(singles, key=singles.get)
    ratio = means["blend"] / singles[best]
    rows = table.set_index("model")["p_vs_best"] if "p_vs_best" in table.columns else {}
    # the best of the two is the dataset's best: the other one's p_vs_best is the pair's
    p = rows.get(best if ratio >= 1 else "blend", "n/a")
    try:
        met = ratio >= BLEND_BAR and float(p) < 0.05
    except ValueError:
        met = False
    return (f"Blend vs the best single model (`{best}`): test NDCG@10 {means['blend']:.4f} / "
            f"{singles[best]:.4f} = **{ratio:.3f}x**, p = {p} (paired Wilcoxon over users): "
            f"the bar of {BLEND_BAR}x with p < 0.05 is " + ("**met**." if met else
                                                          "**not met**."))


def _zoo(settings: Settings) -> dict[str, str]:
    from workbench.experiments.results import DEFAULT_METRICS, results_table

    metrics = tuple(m for m in DEFAULT_METRICS if m != "test_rmse")
    try:
        table = results_table("zoo", ("dataset", "model"), metrics, settings)
    except WorkbenchError:
        return {}
    out = {}
    for dataset, rows in table.groupby("dataset"):
        rows = rows.drop(columns="dataset")
        out[str(dataset)] = markdown_table(rows) + "\n\n" + blend_verdict(rows)
    return out


def _segments(settings: Settings) -> dict[str, str]:
    from workbench.experiments.segments import segment_comparison, wide_table

    try:
        tables = segment_comparison("zoo", 10, settings)
    except WorkbenchError:
        return {}
    return {dataset: "\n\n".join(
        f"#### Test {name} by segment\n\n" + markdown_table(wide_table(long, metric))
        for metric, name in (("ndcg_at_10", "NDCG@10"), ("recall_at_10", "Recall@10")))
        for dataset, long in tables.items()}


def _studies(settings: Settings) -> dict[str, str]:
    import pandas as pd

    from workbench.experiments.results import study_results
    from workbench.experiments.spec import load_sweep

    try:
        results = study_results(load_sweep(SWEEPS_DIR / "tune.yaml"), settings)
    except WorkbenchError:
        return {}
    rows: dict[str, list[dict]] = {}
    for r in results:
        done = r.get("trials_complete", 0)
        if not done or not r.get("dataset"):
            continue  # a study not run against this store is not a result of it
        best = r.get("best_value")
        rows.setdefault(r["dataset"], []).append({
            "model": r["model"], "trials finished": f"{done} of {r['trials']}",
            "best val NDCG@10": best if isinstance(best, float) else float("nan"),
            "best parameters": ", ".join(f"{k}={v}" for k, v in
                                         (r.get("best_params") or {}).items())})
    return {d: markdown_table(pd.DataFrame(r)) for d, r in rows.items()}


def _synthetic(dataset: str | None, settings: Settings) -> bool:
    """Whether ``dataset`` is generated test data (the results page shows real data only);
    an unknown or missing name is not."""
    from workbench.data import get_dataset

    try:
        return bool(dataset) and get_dataset(dataset, settings).synthetic
    except WorkbenchError:
        return False


def _default_sweeps(settings: Settings) -> dict[str, str]:
    from workbench.experiments.results import sweep_runs
    from workbench.experiments.spec import load_sweep

    out: dict[str, list[str]] = {}
    seen = set()
    for path in sorted(SWEEPS_DIR.glob("*_default.yaml")) + sorted(
            settings.experiments_dir.glob("*_default.yaml")):
        spec = load_sweep(path)
        dataset = spec.parameters.get("dataset")
        if spec.name in seen or not dataset:
            continue
        seen.add(spec.name)
        try:
            runs = sweep_runs(spec, settings)
        except WorkbenchError:
            continue
        columns = [c for c in spec.compare if c in runs.columns]
        out.setdefault(str(dataset), []).append(
            f"`{spec.name}`\n\n" + markdown_table(runs[["variant", "status", *columns]]))
    return {dataset: "\n\n".join(tables) for dataset, tables in out.items()}


PARTS = (("The model zoo (test split)", _zoo, "No zoo runs of this dataset"),
         ("The zoo by segment (test split)", _segments, "No per-segment results"),
         ("Tuning studies (validation)", _studies, "No tuning study of this dataset"),
         ("Default sweep: latest run of each variant", _default_sweeps,
          "No default sweep run of this dataset"))

HEADER = """# Results

Generated by `workbench report`; do not edit by hand (rerun the command). One section per
dataset, each stamped with when and from which stores it was generated: a report rewrites the
sections of the datasets its store holds (`--dataset` to choose) and keeps the others, so
datasets run in different homes combine here. Metric names say their split: `val_*` is the
validation carve (used to choose), `test_*` the test split (reported once).

- **The model zoo**: test split (leave-last-out), full ranking, K=10; mean ± std over model
  seeds (`workbench experiments run zoo`); `p_vs_best`: paired Wilcoxon test of per-user test
  NDCG@10 against the best model of the dataset; `test_ncf_*`: the NCF paper's sampled
  protocol (the held-out item among 99 never-rated items; docs/collaborative.md), beside the
  full ranking it can reorder. Then the blend against the best single model (the bar: 1.05x
  with p < 0.05).
- **By segment**: the zoo's per-user test tables split by segment (mean over seeds per
  user, then over the segment's users); users by training interactions, the held-out item by
  training popularity (`head`, `torso`, `tail`, `rare`, `cold`; docs/collaborative.md). `n`:
  the best model's users in the segment; `p`: paired Wilcoxon test against the best model of
  the dataset overall (marked `(best)`), on the users both share.
- **Tuning studies**: validation NDCG@10, Optuna TPE, the same budget per model
  (`experiments/tune.yaml`; `workbench experiments best tune` adds parameter importances);
  the values models use are those in `experiments/tuned/`, written by
  `workbench experiments best tune --write`.
- **Default sweep**: the latest run of each variant of `experiments/<dataset>_default.yaml`.
"""


def dataset_sections(settings: Settings | None = None, datasets: list[str] | None = None
                     ) -> dict[str, str]:
    """The page's section of every dataset the store holds (real data only), or of each of
    ``datasets`` (saying what it lacks), keyed by dataset, markers included. A named dataset
    that the store does not hold and no spec declares is refused (:class:`WorkbenchError`
    listing the known ones), so a typo cannot add an empty section."""
    settings = settings or get_settings()
    parts = [(title, build(settings), empty) for title, build, empty in PARTS]
    held = sorted({d for _, found, _ in parts for d in found if not _synthetic(d, settings)})
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    home = f"sqlite:///{settings.home}/"
    stores = [uri.replace(home, "") for uri in (settings.mlflow_uri, settings.optuna_uri)]
    for name in set(datasets or ()) - set(held):  # a typo is refused, not given a section
        get_dataset(name, settings)
    sections = {}
    for dataset in datasets or held:
        lines = [f"<!-- report: {dataset} -->", f"## {dataset}", "",
                 f"Generated on {stamp} from the MLflow store `{stores[0]}` and the tuning "
                 f"studies `{stores[1]}`.", ""]
        for title, found, empty in parts:
            lines += [f"### {title}", "", found.get(dataset, f"_{empty} in this store._"), ""]
        sections[dataset] = "\n".join(lines) + f"<!-- /report: {dataset} -->\n"
    return sections


def results_markdown(settings: Settings | None = None, datasets: list[str] | None = None,
                     previous: str = "") -> str:
    """The results page: the sections of :func:`dataset_sections`, and every other
    dataset's section of ``previous`` (the page as it was) unchanged, by dataset name."""
    kept = {m["name"]: m.group(0) for m in _BLOCK.finditer(previous)}
    fresh = dataset_sections(settings, datasets)
    sections = {**kept, **fresh}
    if not sections:
        return HEADER + ("\n_No results yet: no zoo run, tuning study or default sweep of a "
                         "real dataset in this store (`make pipeline`, then `workbench "
                         "experiments run zoo`)._\n")
    return HEADER + "".join(f"\n{sections[name]}" for name in sorted(sections))


def write_report(path: Path | None = None, settings: Settings | None = None,
                 datasets: list[str] | None = None) -> Path:
    """Write :func:`results_markdown` to ``path`` (default ``docs/results.md``) atomically,
    keeping the sections of datasets this report does not regenerate."""
    from workbench.storage import write_text

    path = Path(path) if path else DEFAULT_OUTPUT
    previous = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, results_markdown(settings, datasets, previous))
    return path
