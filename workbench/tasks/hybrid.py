"""Choose the hybrid's alpha on validation data, report it on the test split once: the job
behind notebook 04.

AI pick re-ranks a seed item's content candidates by ``alpha * similarity + (1 - alpha) *
preference``. :func:`evaluate_hybrid`:

1. loads the recommender with the collaborative model to evaluate (the champion by
   default), which was trained on the whole training split;
2. **validation**: trains the same configuration on the training split minus the validation
   carve (:func:`workbench.collaborative.validation_split`), so it has not seen the validation
   items, and sweeps ``alphas`` on "more like this" requests from the fit rows' recent liked
   items, scored against the validation items; ``best_alpha`` is the best validation NDCG@k
   with the franchise filter on;
3. **test**: scores the final model on the test split at ``best_alpha`` (and at the two ends,
   alpha 0 and 1, for reference) once.

Everything goes to one MLflow run: the validation curve as step metrics (step = alpha x 100)
and table, the chosen alpha and the alphas within one standard error of it, the test figures,
the trade-off plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from workbench.settings import Settings, get_settings
from workbench.tasks import TaskConfig

SELECTION_METRIC = "val_ndcg_at_10_filtered"


class HybridTask(TaskConfig):
    """Parameters of notebook 04 (its ``parameters`` cell has the same names and defaults)."""

    dataset: str = "movies"
    collaborative: str = "champion"
    """``champion`` or a model folder under models/<dataset>/collaborative."""
    split: Literal["leave_last_out", "random_holdout"] = "leave_last_out"
    alphas: list[float] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]  # noqa: RUF012 - a pydantic field (TaskConfig), copied per instance
    strategy: Literal["blend", "rrf"] = "blend"
    candidates: int = Field(100, gt=0)
    k: int = Field(10, gt=0)
    seeds_per_user: int = Field(3, gt=0)
    max_users: int = Field(2000, ge=0)
    """At most this many test users (a seeded sample where there are more: the catalogs
    here have about 600, a million-item catalog hundreds of thousands); 0: every user."""
    seed: int = 42
    mlflow_experiment: str = "hybrid"



@dataclass
class HybridResult:
    """What notebook 04 shows and logs."""

    validation: pd.DataFrame
    """One row per (alpha, franchise filter) on the validation split."""
    test: pd.DataFrame
    """The test split at the chosen alpha and at alpha 0 and 1."""
    best_alpha: float
    supported: list[float]
    facts: dict[str, float]
    run_id: str
    model_label: str
    figure: Any = None


def evaluate_hybrid(task: HybridTask, settings: Settings | None = None,
                    log: Any = print) -> HybridResult:
    """Run ``task`` (see the module docstring)."""
    import mlflow

    from workbench import data, evaluation, plots, tracking
    from workbench.collaborative import train, validation_split
    from workbench.hybrid import Recommender, RecommenderError

    settings = settings or get_settings()
    rec = Recommender.load(task.dataset, settings, collaborative=task.collaborative)
    model = rec.collaborative
    if model.config.split != task.split:
        raise RecommenderError(f"the {task.collaborative} model was trained on "
                               f"{model.config.split!r}, not {task.split!r}: it has seen the "
                               f"held-out items of {task.split!r}")
    parts = data.load_split(task.dataset, task.split, settings)
    fit_rows, val_rows = validation_split(parts.train,
                                          int(parts.manifest.get("seed", settings.seed)))
    catalog = data.load_items(task.dataset, settings)["item_id"].to_numpy()
    k, options = task.k, {"candidates": task.candidates, "strategy": task.strategy}
    common = {"k": k, "seeds_per_user": task.seeds_per_user,
              "max_users": task.max_users or None, "seed": task.seed}
    params = {**task.model_dump(exclude={"mlflow_experiment"}), "model": rec.model_label,
              "collaborative_kind": model.config.model, "selected_by": SELECTION_METRIC}
    with tracking.start_run(task.mlflow_experiment, run_name=f"{task.dataset}-hybrid-"
                            f"{task.strategy}", params=params, settings=settings) as run:
        selection = train(model.config, fit_rows, catalog, validation=val_rows,
                          settings=settings)
        rec_val = Recommender(rec.content, selection, rec.config, rec.model_label)
        val_table, facts = evaluation.hybrid_tradeoff(rec_val, fit_rows, val_rows, task.alphas,
                                                      **common, **options)
        best_alpha, supported = evaluation.supported_alphas(val_table, k,
                                                            franchise_filter=True)
        log(f"{task.dataset}: {facts['requests']:.0f} validation requests from "
            f"{facts['users']:.0f} users; best alpha {best_alpha} (validation), within one "
            f"standard error: {supported}")
        test_alphas = sorted({best_alpha, 0.0, 1.0})
        test_table, test_facts = evaluation.hybrid_tradeoff(rec, parts.train, parts.test,
                                                            test_alphas, **common, **options)
        for row in val_table.to_dict("records"):
            suffix = "_filtered" if row["franchise_filter"] else ""
            step = round(row["alpha"] * 100)
            for name, value in row.items():
                if name not in ("alpha", "franchise_filter"):
                    mlflow.log_metric(f"val_{name}{suffix}", float(value), step=step)
        chosen = _row(test_table, best_alpha)
        metrics = {**{f"val_{n}": v for n, v in facts.items()},
                   **{f"test_{n}": v for n, v in test_facts.items()},
                   "best_alpha": best_alpha, "supported_alpha_min": min(supported),
                   "supported_alpha_max": max(supported),
                   f"val_best_ndcg_at_{k}": float(_row(val_table, best_alpha)[f"ndcg_at_{k}"])}
        for name in (f"ndcg_at_{k}", f"ndcg_at_{k}_se", f"recall_at_{k}", f"hr_at_{k}",
                     "intra_list_diversity", f"coverage_at_{k}", f"novelty_at_{k}"):
            metrics[f"test_{name}"] = float(chosen[name])
        for end in (0.0, 1.0):
            metrics[f"test_ndcg_at_{k}_alpha_{int(end)}"] = float(
                _row(test_table, end)[f"ndcg_at_{k}"])
        tracking.log_metrics(metrics)
        mlflow.log_table(val_table, "validation_tradeoff.json")
        mlflow.log_table(test_table, "test.json")
        figure = plots.plot_tradeoff(val_table, k, f"{task.dataset}: AI pick over alpha "
                                                   f"({task.strategy}, validation)")
        tracking.log_figure(figure, "tradeoff")
        log(f"{task.dataset}: test NDCG@{k} at alpha {best_alpha}: "
            f"{metrics[f'test_ndcg_at_{k}']:.4f} (alpha 0: "
            f"{metrics[f'test_ndcg_at_{k}_alpha_0']:.4f}, alpha 1: "
            f"{metrics[f'test_ndcg_at_{k}_alpha_1']:.4f})")
    return HybridResult(val_table, test_table, best_alpha, supported, metrics,
                        run.info.run_id, rec.model_label, figure)


def _row(table: pd.DataFrame, alpha: float, franchise_filter: bool = True) -> pd.Series:
    rows = table[(table["alpha"] == alpha) & (table["franchise_filter"] == franchise_filter)]
    return rows.iloc[0]


def check_parameters(parameters: dict[str, Any], settings: Settings | None = None
                     ) -> dict[str, Any]:
    """Validate notebook 04's ``parameters`` (a sweep's, before anything runs); returns the
    task with the identity of the collaborative model it will load (the champion's version
    and run, or the model folder's config), so a sweep reruns the variant when that changes.
    The model may not exist yet (a sweep's earlier stage trains it)."""
    import hashlib

    from pydantic import ValidationError

    from workbench.collaborative import CollaborativeError
    from workbench.collaborative.champion import ALIAS, champion_identity
    from workbench.errors import describe_errors

    settings = settings or get_settings()
    try:
        task = HybridTask(**parameters)
    except ValidationError as exc:
        raise CollaborativeError(describe_errors(exc)) from None
    if task.collaborative == ALIAS:
        identity = champion_identity(task.dataset, settings)
    else:
        path = settings.model_dir(task.dataset, task.collaborative) / "config.json"
        try:
            identity = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except OSError:
            identity = "missing"
    return {**task.model_dump(mode="json"), "collaborative_identity": identity}
