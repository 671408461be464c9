"""``workbench report``: the results page (``docs/results.md``) written from MLflow and the
tuning studies, so no figure in it is typed by hand.

One section per dataset, between ``<!-- report: NAME -->`` and ``<!-- /report: NAME -->``
markers, each stamped with when and from which stores it was generated. A report rewrites
the sections of the datasets its store holds (or those asked for with ``datasets``) and
keeps every other section of the page as it was: results of datasets run in different homes
(ml1m's hour-long zoo on a bigger machine, movies and anime on a laptop) combine into one
page without rerunning any of them. A page without markers (an older page) is replaced.
Within a section, rows combine too: each regenerated section's runs, per-user tables and
study rows are archived beside the page (``docs/results/<dataset>.json`` and
``.per_user.parquet``: :mod:`workbench.experiments.archive`), and the next report of that
dataset reads them with its own store, so the peers measured in one home and the Keras
models in another make one table (a run or study the store holds replaces its archived
copy; the section's stamp says how many runs came from the archive).

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
from typing import TYPE_CHECKING

from workbench import WorkbenchError
from workbench.data.registry import get_dataset
from workbench.experiments.results import DEFAULT_METRICS
from workbench.settings import CHECKOUT, Settings, get_settings

SWEEPS_DIR = CHECKOUT / "experiments"
DEFAULT_OUTPUT = CHECKOUT / "docs" / "results.md"
ZOO_METRICS = tuple(m for m in DEFAULT_METRICS if m != "test_rmse")
"""The zoo table's metrics (implicit models: no RMSE), also what its archive keeps."""
BLEND_BAR = 1.05  # the blend must beat the best single model by this factor (p < 0.05)
if TYPE_CHECKING:
    from workbench.experiments.archive import Archive

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


def _ndcg_by_model(table) -> tuple[dict[str, float], dict[str, float]]:
    """A zoo table's mean test NDCG@10 by model, and the same for its single models (the
    blend and models without a figure left out)."""
    means = {row["model"]: _mean(row["test_full_ndcg_at_10"]) for _, row in table.iterrows()}
    return means, {m: v for m, v in means.items() if m != "blend" and v == v}


def blend_verdict(table) -> str:
    """One dataset's zoo table (``results_table`` rows, one per model) -> a sentence on the
    blend against the best single model: the ratio of mean test NDCG@10 and the paired
    p-value, and whether the bar (:data:`BLEND_BAR`, p < 0.05) is met."""
    means, singles = _ndcg_by_model(table)
    if "blend" not in means or len(means) < 2:
        return "_No blend and single models to compare in this store._"
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


def _member_verdict(table, runs, tables) -> str:
    """When the best single model cannot be a blend member (it trains in epochs, which a
    blend refuses), the blend against the best model that can, with the pair's own paired
    p-value: what today's members could reach. Empty otherwise."""
    from workbench.collaborative import model_class
    from workbench.experiments.results import paired_wilcoxon, per_user_means

    def member(name: str) -> bool:
        try:
            return not model_class(name).iterative
        except WorkbenchError:
            return False

    def per_user(model: str):
        found, _ = per_user_means(runs.loc[runs["params.model"] == model, "run_id"],
                                  ("ndcg_at_10",), tables)
        return None if found is None else found["ndcg_at_10"]

    means, singles = _ndcg_by_model(table)
    if "blend" not in means or not singles or "params.model" not in runs.columns:
        return ""
    best = max(singles, key=singles.get)
    members = {m: v for m, v in singles.items() if member(m)}
    if member(best) or not members:
        return ""
    peer = max(members, key=members.get)
    p = paired_wilcoxon(per_user("blend"), per_user(peer))
    return (f" Against the best model a blend can hold (`{peer}`; `{best}` trains in epochs, "
            f"which a blend refuses): {means['blend']:.4f} / {members[peer]:.4f} = "
            f"**{means['blend'] / members[peer]:.3f}x**, p = {p}.")


def _zoo(runs, tables) -> str:
    """One dataset's zoo table (from ``runs``, per-user tables read by ``tables``) and the
    blend's verdict; empty when no run logged a zoo metric."""
    from workbench.experiments.results import results_table

    if runs.empty:
        return ""
    try:
        rows = results_table("zoo", ("dataset", "model"), ZOO_METRICS, runs=runs,
                             tables=tables)
    except WorkbenchError:
        return ""
    if rows.empty:
        return ""
    rows = rows.drop(columns="dataset")
    return markdown_table(rows) + "\n\n" + blend_verdict(rows) + _member_verdict(rows, runs,
                                                                                  tables)


def _segments(runs, tables, settings: Settings) -> str:
    from workbench.experiments.segments import segment_comparison, wide_table

    if runs.empty:
        return ""
    try:
        found = segment_comparison("zoo", 10, settings, runs=runs, tables=tables)
    except WorkbenchError:
        return ""
    return "\n\n".join(
        f"#### Test {name} by segment\n\n" + markdown_table(wide_table(long, metric))
        for long in found.values()
        for metric, name in (("ndcg_at_10", "NDCG@10"), ("recall_at_10", "Recall@10")))


def _study_rows(settings: Settings) -> dict[str, list[dict]]:
    """Per dataset, one row per model of ``experiments/tune.yaml`` that ran in this store."""
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
    return rows


def _rounded(parameters: str) -> str:
    """``parameters`` (``k=v, ...``) as the page shows them: each decimal to 4 significant
    digits (archived study rows hold them unrounded) and without the search space's
    ``params.`` prefix (``params.l2=31.19890406724053`` -> ``l2=31.2``)."""
    parameters = re.sub(r"(^|, )params\.", r"\1", parameters)
    return re.sub(r"(?<![\w.])\d+\.\d{5,}(?:e[-+]?\d+)?",
                  lambda m: f"{float(m.group()):.4g}", parameters)


def _studies_text(rows: list[dict], runs) -> str:
    """The study table; which zoo models ran without tuned values (their runs'
    ``tuned_from`` is ``-``: the declared defaults; on ml1m the Keras models, whose papers
    set them on that very file); and which ran with tuned values whose study is neither in
    this store nor in the archive (a store that is gone: the values stay in
    ``experiments/tuned/``, the trials do not)."""
    import pandas as pd

    rows = [{**row, "best parameters": _rounded(row["best parameters"])}
            if isinstance(row.get("best parameters"), str) else row for row in rows]
    text = markdown_table(pd.DataFrame(rows)) if rows else ""
    untuned, unlisted = [], []
    if {"params.model", "params.tuned_from"} <= set(runs.columns):
        source = runs["params.tuned_from"].fillna("-")
        untuned = sorted(set(runs.loc[source == "-", "params.model"].dropna()) - {"popularity"})
        studied = {row.get("model") for row in rows}
        unlisted = sorted(set(runs.loc[source != "-", "params.model"].dropna()) - studied)
    if unlisted:
        chosen = runs.loc[runs["params.model"].isin(unlisted), "params.tuned_from"]
        files = sorted({f"`experiments/tuned/{Path(f).name}`" for f in chosen.dropna()
                        if f != "-"})
        text = (text or "_No tuning study of this dataset in this store._") + "\n\n" + (
            f"Tuned by studies not on this page: {', '.join(f'`{m}`' for m in unlisted)} "
            f"ran with the values in {', '.join(files)}, chosen by studies whose store is "
            f"gone (rerun one: `workbench experiments run tune --only MODEL.dataset=DATASET`).")
    if untuned:
        text = (text or "_No tuning study of this dataset in this store._") + "\n\n" + (
            f"Not tuned: {', '.join(f'`{m}`' for m in untuned)}; the zoo ran "
            f"{'it' if len(untuned) == 1 else 'them'} with the declared defaults "
            f"(`workbench collaborative models` lists them; [collaborative.md]"
            f"(collaborative.md#hyperparameters-declared-defaults-tuned-values-overrides) says "
            f"where they come from).")
    return text


def _store_runs(settings: Settings):
    """The store's finished zoo runs with a dataset (None when it has none)."""
    from workbench.experiments.results import finished_runs

    try:
        runs = finished_runs("zoo", settings)
    except WorkbenchError:
        return None
    return runs.dropna(subset=["params.dataset"]) if "params.dataset" in runs.columns else None


def _synthetic(dataset: str | None, settings: Settings) -> bool:
    """Whether ``dataset`` is generated test data (the results page shows real data only);
    an unknown or missing name is not."""
    from workbench.data import get_dataset

    try:
        return bool(dataset) and get_dataset(dataset, settings).synthetic
    except WorkbenchError:
        return False


def _default_sweeps(settings: Settings) -> dict[str, str]:
    """Per dataset, the latest run of each variant its ``*_default.yaml`` declares today; runs
    of variants since removed from the file (the NCF family left the default sweeps for
    ``zoo.yaml``) are left out, and the table says how many."""
    from workbench.experiments.results import sweep_runs
    from workbench.experiments.spec import expand, load_sweep

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
        try:
            declared = {v.name for v in expand(spec)}
        except WorkbenchError:  # a sweep that no longer expands: show every variant's run
            declared = set(runs["variant"])
        gone = sorted(set(runs["variant"]) - declared)
        runs = runs[runs["variant"].isin(declared)]
        columns = [c for c in spec.compare if c in runs.columns]
        note = (f"\n\n_Left out: the runs of {len(gone)} variant(s) no longer in "
                f"`{path.name}` ({', '.join(f'`{g}`' for g in gone)})._" if gone else "")
        out.setdefault(str(dataset), []).append(
            f"`{spec.name}`\n\n" + markdown_table(runs[["variant", "status", *columns]]) + note)
    return {dataset: "\n\n".join(tables) for dataset, tables in out.items()}


PARTS = (("The model zoo (test split)", "No zoo runs of this dataset"),
         ("The zoo by segment (test split)", "No per-segment results"),
         ("Tuning studies (validation)", "No tuning study of this dataset"),
         ("Default sweep: latest run of each variant", "No default sweep run of this dataset"))


HEADER = """# Results

Generated by `workbench report`; do not edit by hand (rerun the command). One section per
dataset, each stamped with when and from which stores it was generated: a report rewrites the
sections of the datasets its store holds (`--dataset` to choose) and keeps the others, so
datasets run in different homes combine here; within a section, the runs of earlier stores
are kept in `results/<dataset>.json` (with their per-user tables) and combine with the
store's (the stamp says how many). Metric names say their split: `val_*` is the validation
carve (used to choose), `test_*` the test split (reported once).

- **The model zoo**: test split (leave-last-out), full ranking, K=10; mean ± std over model
  seeds (`workbench experiments run zoo`); `p_vs_best`: paired Wilcoxon test of per-user test
  NDCG@10 against the best model of the dataset; `test_ncf_*`: the NCF paper's sampled
  protocol (the held-out item among 99 never-rated items;
  [collaborative.md](collaborative.md#protocols-full-ranking-and-the-papers-sampled-ones)),
  beside the full ranking it can reorder. Then the blend against the best single model (the
  bar: 1.05x with p < 0.05) and, when that model trains in epochs (no blend can hold it),
  against the best model that a blend can hold.
- **By segment**: the zoo's per-user test tables split by segment (mean over seeds per
  user, then over the segment's users); users by training interactions, the held-out item by
  training popularity (`head`, `torso`, `tail`, `rare`, `cold`;
  [collaborative.md](collaborative.md#segments-where-a-model-wins-and-where-it-loses)). `n`:
  the best model's users in the segment; `p`: paired Wilcoxon test against the best model of
  the dataset overall (marked `(best)`), on the users both share.
- **Tuning studies**: validation NDCG@10, Optuna TPE, the same budget per model
  (`experiments/tune.yaml`; `workbench experiments best tune` adds parameter importances);
  the values models use are those in `experiments/tuned/`, written by
  `workbench experiments best tune --write`; below the table, the models that ran untuned
  and those tuned by studies this page does not hold.
- **Default sweep**: the latest run of each variant of `experiments/<dataset>_default.yaml`,
  with the columns of its `compare` list. The `hybrid-alpha` row's `test_ndcg_at_10` is the
  hybrid's, scored on "more like this" requests against the held-out item
  ([hybrid.md](hybrid.md#which-alpha-notebook-04)): not comparable with the zoo's full
  ranking (`test_full_*`).
"""


def _build(settings: Settings, datasets: list[str] | None, directory: Path | None
           ) -> dict[str, tuple[str, Archive]]:
    """Per dataset: its section (markers included) and the archive it was built from (the
    store's zoo runs, studies and default sweep merged with ``directory``'s archive)."""
    import pandas as pd

    from workbench.experiments.archive import (
        PER_USER_COLUMNS,
        Archive,
        archived_runs,
        merge_runs,
        merge_studies,
        read_archive,
    )
    from workbench.experiments.results import latest_per_variant, per_user_table

    store = _store_runs(settings)
    studies, sweeps = _study_rows(settings), _default_sweeps(settings)
    found = set(studies) | set(sweeps) | (set(store["params.dataset"]) if store is not None
                                          else set())
    held = sorted(d for d in found if not _synthetic(d, settings))
    for name in set(datasets or ()) - set(held):  # a typo is refused, not given a section
        get_dataset(name, settings)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    home = f"sqlite:///{settings.home}/"
    stores = [uri.replace(home, "") for uri in (settings.mlflow_uri, settings.optuna_uri)]
    out = {}
    for dataset in datasets or held:
        old = read_archive(directory, dataset) if directory else Archive()
        mine = (store[store["params.dataset"] == dataset] if store is not None
                else pd.DataFrame())
        runs = merge_runs(mine, old.runs)
        if not runs.empty:
            runs = latest_per_variant(runs)
        ours = set(mine["run_id"]) if not mine.empty else set()

        read: dict[str, object] = {}  # each run's table once: p-values, segments, archive

        def tables(run_id: str, _old=old, _ours=ours, _read=read):
            if run_id not in _read:
                _read[run_id] = (per_user_table(run_id) if run_id in _ours
                                 else _old.table(run_id))
            return _read[run_id]

        study_rows = merge_studies(studies.get(dataset, []), old.studies)
        parts = [_zoo(runs, tables), _segments(runs, tables, settings),
                 _studies_text(study_rows, runs), sweeps.get(dataset) or old.default_sweep]
        source = (f"Generated on {stamp} from the MLflow store `{stores[0]}` and the tuning "
                  f"studies `{stores[1]}`")
        archived = len(runs) - len(set(runs["run_id"]) & ours) if not runs.empty else 0
        old_studies = len(study_rows) - len(studies.get(dataset, []))
        if directory and (archived or old_studies):
            counts = [f"{n} of the {what}" for n, what in (
                (archived, f"zoo's {len(runs)} runs"),
                (old_studies, f"{len(study_rows)} tuning studies")) if n]
            source += (f", with what they lack from the archive of earlier stores "
                       f"([`{directory.name}/{dataset}.json`]({directory.name}/{dataset}.json):"
                       f" {' and '.join(counts)})")
        lines = [f"<!-- report: {dataset} -->", f"## {dataset}", "", source + ".", ""]
        for (title, empty), text in zip(PARTS, parts, strict=True):
            lines += [f"### {title}", "", text or f"_{empty} in this store._", ""]
        per_user = []
        for run_id in (runs["run_id"] if not runs.empty else []):
            table = tables(run_id)
            if table is not None:
                keep = [c for c in ("user_id", *PER_USER_COLUMNS) if c in table.columns]
                per_user.append(table[keep].assign(run_id=run_id))
        archive = Archive(archived_runs(runs, ZOO_METRICS) if not runs.empty else runs,
                          pd.concat(per_user, ignore_index=True) if per_user else
                          pd.DataFrame(), study_rows, parts[3])
        out[dataset] = ("\n".join(lines) + f"<!-- /report: {dataset} -->\n", archive)
    return out


def dataset_sections(settings: Settings | None = None, datasets: list[str] | None = None,
                     archive: Path | None = None) -> dict[str, str]:
    """The page's section of every dataset the store holds (real data only), or of each of
    ``datasets`` (saying what it lacks), keyed by dataset, markers included; with the
    results archive ``archive`` (a folder: :mod:`workbench.experiments.archive`), what the
    store lacks comes from there. A named dataset that the store does not hold and no spec
    declares is refused (:class:`WorkbenchError` listing the known ones), so a typo cannot
    add an empty section."""
    built = _build(settings or get_settings(), datasets, archive)
    return {dataset: text for dataset, (text, _) in built.items()}


def results_markdown(sections: dict[str, str], previous: str = "") -> str:
    """The results page: ``sections`` (:func:`dataset_sections`), and every other
    dataset's section of ``previous`` (the page as it was) unchanged, by dataset name."""
    kept = {m["name"]: m.group(0) for m in _BLOCK.finditer(previous)}
    sections = {**kept, **sections}
    if not sections:
        return HEADER + ("\n_No results yet: no zoo run, tuning study or default sweep of a "
                         "real dataset in this store (`make pipeline`, then `workbench "
                         "experiments run zoo`)._\n")
    return HEADER + "".join(f"\n{sections[name]}" for name in sorted(sections))


def write_report(path: Path | None = None, settings: Settings | None = None,
                 datasets: list[str] | None = None) -> Path:
    """Write :func:`results_markdown` to ``path`` (default ``docs/results.md``) atomically,
    keeping the sections of datasets this report does not regenerate, and each regenerated
    section's archive beside it (``docs/results/<dataset>.json``, ``.per_user.parquet``)."""
    from workbench.experiments.archive import archive_dir, write_archive
    from workbench.storage import write_text

    path = Path(path) if path else DEFAULT_OUTPUT
    directory = archive_dir(path)
    built = _build(settings or get_settings(), datasets, directory)
    for dataset, (_, archive) in built.items():
        write_archive(directory, dataset, archive)
    previous = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, results_markdown({d: text for d, (text, _) in built.items()}, previous))
    return path
