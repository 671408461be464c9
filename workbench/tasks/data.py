"""Summarise a prepared dataset: the job behind notebook 01.

:func:`overview` loads the tables and the prepare report, computes the summary (sizes,
sparsity, rating range, what prepare nulled or skipped), draws the four overview plots
(rating distribution, long tail, genre counts, text lengths) and, with ``track``, logs the
summary as metrics and the figure to one MLflow run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from workbench.settings import Settings, get_settings
from workbench.tasks import TaskConfig


class OverviewTask(TaskConfig):
    """Parameters of notebook 01 (its ``parameters`` cell has the same names and defaults)."""

    dataset: str = "movies"
    track: bool = True
    mlflow_experiment: str = "data-overview"



@dataclass
class OverviewResult:
    """What notebook 01 shows and logs."""

    summary: Any
    report: Any
    figure: Any
    results: dict[str, Any]
    run_id: str = ""


def overview(task: OverviewTask, settings: Settings | None = None,
             started_at: float | None = None) -> OverviewResult:
    """Run ``task`` (see the module docstring)."""
    import matplotlib.pyplot as plt

    from workbench import data, tracking
    from workbench.data import overview as views

    settings = settings or get_settings()
    started_at = started_at or time.time()
    items = data.load_items(task.dataset, settings)
    interactions = data.load_interactions(task.dataset, settings)
    report = data.load_report(task.dataset, settings)
    summary = views.summarize(task.dataset, items, interactions, report)
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    views.plot_rating_distribution(interactions, ax=axes[0, 0])
    views.plot_long_tail(interactions, ax=axes[0, 1])
    views.plot_genre_counts(items, ax=axes[1, 0])
    views.plot_text_lengths(items, ax=axes[1, 1])
    fig.suptitle(f"{task.dataset}: data overview")
    fig.tight_layout()
    results = summary.as_dict()
    run_id = ""
    if task.track:
        with tracking.start_run(task.mlflow_experiment, run_name=f"overview-{task.dataset}",
                                params={"dataset": task.dataset}, settings=settings,
                                started_at=started_at) as run:
            tracking.log_metrics({k: v for k, v in results.items() if k != "dataset"})
            tracking.log_figure(fig, "data_overview")
        run_id = run.info.run_id
    return OverviewResult(summary, report, fig, results, run_id)
