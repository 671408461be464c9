"""The papers' own tables on MovieLens 1M, reproduced under their protocols.

- ``neumf``: NeuMF with pre-training (He et al. 2017, *Neural Collaborative Filtering*): the
  settings of the command in the paper code's README for ml-1m (8 predictive factors, MLP
  layers [64, 32, 16, 8], 4 negatives per positive, Adam at 0.001, batch 256, 20 epochs for
  GMF, MLP and NeuMF each, no regularisation), ranked under the ``ncf`` protocol (the
  held-out latest item among 99 never-rated items). Paper, Table 2, 8 factors: HR@10 0.684,
  NDCG@10 0.403.
- ``neumf64``: the same at 64 predictive factors (MLP layers [512, 256, 128, 64], the README's
  pattern scaled): Table 2's 64-factor row, HR@10 0.730, NDCG@10 0.447, the paper's best
  figure and the one usually quoted.
- ``sasrec``: SASRec (Kang & McAuley 2018): maximum length 200, 50 hidden units, 2 blocks,
  dropout 0.2, Adam at 0.001, batch 128, 200 epochs, under the ``sasrec`` protocol (the last
  item among 100 never-rated items). Paper: HR@10 0.8245, NDCG@10 0.5905.

All of them train on the ``leave_last_out`` training split of ``ml1m`` (every interaction
but each user's latest) and are ranked on the test split's candidates that every zoo run uses
(:mod:`workbench.collaborative.protocols`). Each epoch's sampled HR@10 / NDCG@10 is recorded
(GMF's and MLP's too, while NeuMF pre-trains): the table gives the **last epoch** (what a
user of these settings gets) and the **best epoch on the test items**, which is what the
papers' code reports (it evaluates the test candidates every epoch and prints the best), so
the two together show how much of a gap that selection explains. Full-ranking HR@10 /
NDCG@10 of the last epoch sit beside them (a stopped run shows its latest 10th epoch's, named
in the cell); sampled metrics can reorder models (Krichene & Rendle 2020).

Writes ``benchmarks/results/paper_protocols.json`` (each model's settings, curve, figures and
seconds; models not rerun are kept) and the generated table in ``docs/collaborative.md``
between its markers. Needs ``ml1m`` prepared in the home (``workbench data prepare ml1m``).

    .venv/bin/python benchmarks/paper_protocols.py --models neumf     # ~40 min on 2 cores
    .venv/bin/python benchmarks/paper_protocols.py --models neumf64   # ~1 h 50 min alone on 2 cores
    .venv/bin/python benchmarks/paper_protocols.py --models sasrec    # 89 min alone on 2 cores
    .venv/bin/python benchmarks/paper_protocols.py --models sasrec --epochs 30   # a shorter run
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "paper_protocols.json"
DOC = REPO / "docs" / "collaborative.md"
BEGIN, END = "<!-- paper-protocols:begin -->", "<!-- paper-protocols:end -->"
PAPERS = {
    "neumf": {"protocol": "ncf", "paper": "He et al. 2017 (NeuMF with pre-training)",
              "where": "Table 2, 8 factors", "hr_at_10": 0.684, "ndcg_at_10": 0.403,
              "params": {"factors": 8, "mlp_layers": [64, 32, 16, 8], "negatives": 4,
                         "lr": 0.001, "batch_size": 256, "epochs": 20, "l2": 0.0,
                         "negative_sampling": "uniform", "pretrain": True}},
    "neumf64": {"protocol": "ncf", "paper": "He et al. 2017 (NeuMF with pre-training)",
                "where": "Table 2, 64 factors", "model": "neumf",
                "hr_at_10": 0.730, "ndcg_at_10": 0.447,
                "params": {"factors": 64, "mlp_layers": [512, 256, 128, 64], "negatives": 4,
                           "lr": 0.001, "batch_size": 256, "epochs": 20, "l2": 0.0,
                           "negative_sampling": "uniform", "pretrain": True}},
    "sasrec": {"protocol": "sasrec", "paper": "Kang & McAuley 2018 (SASRec)",
               "where": "results table", "hr_at_10": 0.8245, "ndcg_at_10": 0.5905,
               "params": {"maxlen": 200, "hidden": 50, "blocks": 2, "dropout": 0.2,
                          "lr": 0.001, "batch_size": 128, "epochs": 200, "l2": 0.0}},
}


def _record(model: str, params: dict, protocol: str, curves: dict, users: int,
            seconds: float, full: dict | None = None, kind: str | None = None) -> dict:
    """One entry of the results (``model``, a key of :data:`PAPERS`, trains the zoo model
    ``kind``, by default the same name): its curve so far and the figures read from it."""
    kind = kind or model
    curve = curves.get(kind) or [{"epoch": 0, "hr_at_10": float("nan"),
                                   "ndcg_at_10": float("nan"), "seconds": 0.0}]
    if full is None:  # a run still going (or stopped): its latest full-ranking epoch
        ranked = [row for row in curve if "full_hr_at_10" in row]
        full = ({"full_epoch": ranked[-1]["epoch"], **ranked[-1]} if ranked else {})
        finished = False
    else:
        full, finished = {"full_epoch": curve[-1]["epoch"], **full}, True
    return {"model": model, "kind": kind, "protocol": protocol, "params": params,
            "epochs_run": len(curves.get(kind, [])), "finished": finished,
            "last": curve[-1], "best_on_test": max(curve, key=lambda row: row["hr_at_10"]),
            "full_hr_at_10": full.get("full_hr_at_10"),
            "full_ndcg_at_10": full.get("full_ndcg_at_10"), "full_epoch": full.get("full_epoch"),
            "users": users, "seconds": round(seconds, 1), "curves": curves}


def run(model: str, epochs: int | None, dataset: str = "ml1m",
        save: Callable[[dict], None] | None = None, full_every: int = 10) -> dict:
    """Train ``model`` with its paper's settings and return its curve and figures;
    ``save(entry)`` after every epoch (a stopped run keeps its curve), the full ranking
    every ``full_every`` epochs too."""
    import numpy as np

    from workbench import data, evaluation
    from workbench.collaborative import make_config, train
    from workbench.collaborative.protocols import load_candidates, protocol_ranking
    from workbench.settings import get_settings

    settings = get_settings()
    paper = PAPERS[model]
    kind = paper.get("model", model)
    params = dict(paper["params"], patience=10_000)
    if epochs:
        params["epochs"] = epochs
    split = data.load_split(dataset, "leave_last_out", settings)
    interactions = data.load_interactions(dataset, settings)
    seed = int(split.manifest.get("seed", settings.seed))
    candidates = load_candidates(settings.processed_dir(dataset) / "splits", interactions,
                                 split.test, paper["protocol"], "test", seed)
    curves: dict[str, list[dict]] = {}
    started = time.time()

    def each_epoch(m) -> float:
        """Record this epoch's sampled figures; return the epoch number, so that the
        training loop keeps the last epoch's weights (no choice on the test items)."""
        curve = curves.setdefault(m.name, [])
        figures = protocol_ranking(m, candidates, 10)
        row = {"epoch": len(curve) + 1, "hr_at_10": figures["hr_at_10"],
               "ndcg_at_10": figures["ndcg_at_10"]}
        if m.name == kind and row["epoch"] % full_every == 0:  # a stopped run keeps one
            ranked = evaluation.full_ranking(m, split.test, 10)
            row.update({k: ranked[k] for k in ("full_hr_at_10", "full_ndcg_at_10")})
        curve.append({**row, "seconds": round(time.time() - started, 1)})
        print(json.dumps({"model": m.name, **curve[-1]}), flush=True)
        if save is not None:
            save(_record(model, params, paper["protocol"], curves, len(candidates),
                         time.time() - started, kind=kind))
        return float(len(curve))

    catalog = np.sort(interactions["item_id"].unique())
    config = make_config(dataset=dataset, model=kind, params=params, seed=1)
    trained = train(config, split.train, catalog, validation=split.test, settings=settings,
                    validation_metric=each_epoch)
    full = evaluation.full_ranking(trained, split.test, 10)
    full = full[0] if isinstance(full, tuple) else full
    return _record(model, params, paper["protocol"], curves, len(candidates),
                   time.time() - started, full, kind)


def table(results: dict) -> str:
    """The generated Markdown table (paper vs ours) of ``results``."""
    lines = ["| model | protocol | paper HR@10 / NDCG@10 | ours, last epoch | ours, best epoch "
             "on test (the papers' code) | full ranking | epochs | minutes |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results.items()):
        paper = PAPERS[name]
        lines.append(
            f"| {name} | `{r['protocol']}` | {paper['hr_at_10']:.4f} / {paper['ndcg_at_10']:.4f} "
            f"({paper['where']}) "
            f"| {r['last']['hr_at_10']:.4f} / {r['last']['ndcg_at_10']:.4f} "
            f"| {r['best_on_test']['hr_at_10']:.4f} / {r['best_on_test']['ndcg_at_10']:.4f} "
            f"(epoch {r['best_on_test']['epoch']}) "
            + (f"| {r['full_hr_at_10']:.4f} / {r['full_ndcg_at_10']:.4f} "
               + ("" if r.get("finished", True) else f"(epoch {r['full_epoch']}) ")
               if r.get("full_hr_at_10") is not None else "| n/a ")
            + f"| {r['epochs_run']} of {r['params']['epochs']}"
            + ("" if r.get("finished", True) else " (stopped)")
            + f" | {r['seconds'] / 60:.0f} |")
        for part in sorted(set(r["curves"]) - {r.get("kind", name)}):  # NeuMF's pre-trained parts
            last = r["curves"][part][-1]
            lines.append(f"| {part} (NeuMF's pre-training) | `{r['protocol']}` | | "
                         f"{last['hr_at_10']:.4f} / {last['ndcg_at_10']:.4f} | | | "
                         f"{last['epoch']} | |")
    return "\n".join(lines)


def write_doc(results: dict, doc: Path = DOC) -> None:
    """Replace the generated section of ``doc`` (between the markers) with :func:`table`."""
    from workbench.storage import write_text

    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc} has no generated section ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    body = (f"{BEGIN}\n<!-- generated by benchmarks/paper_protocols.py; do not edit -->\n\n"
            f"{table(results)}\n\n")
    write_text(doc, head + body + END + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(PAPERS), default=sorted(PAPERS))
    parser.add_argument("--epochs", type=int, help="fewer epochs than the paper's (a trial)")
    parser.add_argument("--dataset", default="ml1m", help="a prepared dataset of the home "
                        "(the papers' figures are for ml1m)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    from workbench.storage import write_text

    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    args.results.parent.mkdir(parents=True, exist_ok=True)

    def save(entry: dict) -> None:
        results[entry["model"]] = entry
        write_text(args.results, json.dumps(results, indent=1))
        write_doc(results, args.doc)

    for model in args.models:
        save(run(model, args.epochs, args.dataset, save=save))
    print(table(results))


if __name__ == "__main__":
    main()
