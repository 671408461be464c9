"""Build a content index and measure it: the job behind notebook 02.

:func:`build_and_evaluate`:

1. builds the index of :class:`ContentTask`'s configuration (saved as the dataset's index
   unless ``save_index`` is off: a comparison variant must not replace it);
2. measures genre precision@k of "more like this" over ``genre_sample`` seeded items, and
   recall@k, hit@k and MRR on the query set (the team's ``experiments/queries/<dataset>.yaml``
   unless ``queries`` names another; skipped when there is none): all queries, then the
   validation and test halves;
3. with fusion and ``compare_text_only``, builds text-only on the same encoder and scores it
   on the same queries (``text_only_*``);
4. measures what each part of the search ranking adds (``dense_only_*``, ``without_prior_*``,
   ``without_bm25_*``, per split) and where the first right title lands under each;
5. logs one MLflow run: the configuration and ranking weights (``ranking_*``), every metric,
   the build's timings and sizes, the autoencoder's loss curve, the figures, the per-query
   tables and the index manifest. The run spans the work (it starts when the task starts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from workbench.settings import Settings, get_settings
from workbench.tasks import TaskConfig


class ContentTask(TaskConfig):
    """Parameters of notebook 02 (its ``parameters`` cell has the same names and defaults)."""

    dataset: str = "movies"
    fusion: bool = True
    latent_dim: int = Field(32, gt=0)
    tabular_weight: float = Field(0.5, ge=0)
    index_type: Literal["auto", "flat", "hnsw", "ivf", "ivf_sq8"] = "auto"
    prf_depth: int = Field(0, ge=0)
    ae_epochs: int = Field(60, gt=0)
    k: int = Field(10, gt=0)
    genre_sample: int = Field(300, gt=0)
    queries: str = ""
    """A query-set YAML path; empty: the team set, ``experiments/queries/<dataset>.yaml``."""
    compare_text_only: bool = True
    ranking: dict[str, Any] = {}  # noqa: RUF012 - a pydantic field (TaskConfig), copied per instance
    """Search ranking overrides (``RankingConfig`` fields); empty: the defaults."""
    seed: int = 42
    save_index: bool = True
    mlflow_experiment: str = "content-index"



@dataclass
class ContentResult:
    """What notebook 02 shows and logs."""

    engine: Any
    build: Any
    metrics: dict[str, float]
    """Everything logged as a metric."""
    comparison: dict[str, dict[str, float]]
    """This configuration's metrics and, when measured, text-only's (the bar chart)."""
    per_query: pd.DataFrame | None = None
    ablation: pd.DataFrame | None = None
    ablation_per_query: pd.DataFrame | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""


def _ablation_metrics(ablation: pd.DataFrame, k: int) -> dict[str, float]:
    out = {}
    for row in ablation.to_dict("records"):
        prefix = "" if row["variant"] == "full" else row["variant"].replace(" ", "_").lower() + "_"
        split = {"validation": "val_", "test": "test_", "all": ""}[row["split"]]
        out.update({f"{prefix}{split}query_{name}": row[name]
                    for name in (f"recall_at_{k}", f"hit_at_{k}", "mrr")})
    return out


def build_and_evaluate(task: ContentTask, settings: Settings | None = None,
                       started_at: float | None = None) -> ContentResult:
    """Run ``task`` (see the module docstring); ``started_at`` back-dates the MLflow run to
    when the caller began (a notebook's first cell)."""
    import matplotlib.pyplot as plt
    import mlflow

    from workbench import evaluation, plots, tracking
    from workbench.content import ContentConfig, build_content_index
    from workbench.content.ranking import RankingConfig

    settings = settings or get_settings()
    started_at = started_at or time.time()
    config = ContentConfig(dataset=task.dataset, fusion=task.fusion,
                           latent_dim=task.latent_dim, tabular_weight=task.tabular_weight,
                           index_type=task.index_type, prf_depth=task.prf_depth,
                           ae_epochs=task.ae_epochs, seed=task.seed)
    engine, build = build_content_index(config, settings, save=task.save_index)
    engine.ranking = RankingConfig(**task.ranking)
    figures = {}
    if build.autoencoder_history:
        figures["autoencoder_loss"] = plots.plot_training_history(
            build.autoencoder_history, "Tabular autoencoder reconstruction loss").figure

    path = (Path(task.queries) if task.queries
            else evaluation.default_queries_path(task.dataset, settings))
    query_set = evaluation.load_queries(path, engine.items) if path.is_file() else None
    metrics, per_query = evaluation.evaluate_content(engine, query_set, task.k,
                                                     task.genre_sample, task.seed)
    comparison = {"this run": dict(metrics)}
    if task.compare_text_only and task.fusion:
        text_engine, _ = build_content_index(config.model_copy(update={"fusion": False}),
                                             settings, encoder=engine.encoder, save=False)
        text_engine.ranking = engine.ranking
        text_metrics, _ = evaluation.evaluate_content(text_engine, query_set, task.k,
                                                      task.genre_sample, task.seed)
        comparison["text-only"] = text_metrics
        metrics.update({f"text_only_{name}": value for name, value in text_metrics.items()})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    plots.plot_metric_bars(comparison, f"{task.dataset}: retrieval quality @ {task.k}", ax=ax)
    figures["retrieval_quality"] = fig

    ablation = ablation_per_query = None
    if query_set:
        ablation, ablation_per_query = evaluation.search_ablation(
            engine, query_set, evaluation.ranking_ablation(engine.ranking), task.k)
        metrics.update(_ablation_metrics(ablation, task.k))

    results = {**metrics, **{f"{step}_seconds": s for step, s in build.seconds.items()},
               "items": build.items, "items_embedded": build.embedding.embedded,
               "index_bytes": build.index_bytes, "dim": build.dim,
               "index_recall_at_10": engine.manifest.recall_at_10}
    if build.embedding.on_ray:
        results.update(items_embedded_on_ray=build.embedding.on_ray,
                       embed_texts_per_s=build.embedding.texts_per_s)
    if engine.manifest.search_p50_ms is not None:
        results["index_search_p50_ms"] = engine.manifest.search_p50_ms
    params = {**config.model_dump(), "index_type_built": engine.manifest.index_type,
              **{f"ranking_{n}": v for n, v in engine.ranking.model_dump().items()}}
    run_name = f"{task.dataset}-{'fused' if task.fusion else 'text'}-{task.index_type}"
    with tracking.start_run(task.mlflow_experiment, run_name=run_name, params=params,
                            settings=settings, started_at=started_at) as run:
        tracking.log_metrics(results)
        for name, values in build.autoencoder_history.items():
            for epoch, value in enumerate(values):
                mlflow.log_metric(f"autoencoder_{name}", value, step=epoch)
        for name, figure in figures.items():
            tracking.log_figure(figure, name)
        if per_query is not None:
            mlflow.log_text(per_query.to_csv(index=False), "per_query.csv")
        if ablation_per_query is not None:
            mlflow.log_text(ablation_per_query.to_csv(index=False),
                            "search_ablation_per_query.csv")
        mlflow.log_dict(engine.manifest.__dict__, "index_manifest.json")
    return ContentResult(engine, build, results, comparison, per_query, ablation,
                         ablation_per_query, figures, run.info.run_id)


def check_parameters(parameters: dict[str, Any], settings: Settings | None = None) -> None:
    """Validate notebook 02's ``parameters`` (a sweep's, before anything runs) by building
    the task, its :class:`ContentConfig` and its ranking; a bad value is a
    :class:`workbench.WorkbenchError` naming it. Returns None: the index configuration is a
    function of the parameters alone, so it adds nothing to a variant's identity."""
    from pydantic import ValidationError

    from workbench import WorkbenchError
    from workbench.content import ContentConfig
    from workbench.content.ranking import RankingConfig
    from workbench.data import get_dataset
    from workbench.errors import describe_errors

    try:
        task = ContentTask(**parameters)
        ContentConfig(dataset=task.dataset, fusion=task.fusion, latent_dim=task.latent_dim,
                      tabular_weight=task.tabular_weight, index_type=task.index_type,
                      prf_depth=task.prf_depth, ae_epochs=task.ae_epochs, seed=task.seed)
        RankingConfig(**task.ranking)
    except ValidationError as exc:
        raise WorkbenchError(describe_errors(exc)) from None
    get_dataset(task.dataset, settings)
