"""Figures shared by several notebooks (training curves, metric comparisons)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def plot_training_history(history: dict[str, list[float]], title: str = "Training loss",
                          ax: Axes | None = None) -> Axes:
    """Per-epoch curves of every series in a Keras-style ``history`` dict."""
    ax = ax if ax is not None else plt.figure(figsize=(6, 3.5)).add_subplot()
    for name, values in history.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    if history:
        ax.legend()
    return ax


def plot_metric_bars(values: dict[str, dict[str, float]], title: str = "",
                     ax: Axes | None = None) -> Axes:
    """Grouped bars: ``{variant: {metric: value}}``."""
    import numpy as np

    ax = ax if ax is not None else plt.figure(figsize=(6, 3.5)).add_subplot()
    variants = list(values)
    metrics = sorted({m for v in values.values() for m in v})
    width = 0.8 / max(1, len(variants))
    for i, variant in enumerate(variants):
        xs = np.arange(len(metrics)) + i * width
        ax.bar(xs, [values[variant].get(m, np.nan) for m in metrics], width, label=variant)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(variants) - 1) / 2, metrics)
    ax.set(title=title, ylim=(0, 1))
    ax.legend()
    return ax


def plot_tradeoff(table, k: int = 10, title: str = ""):
    """AI pick over alpha (from :func:`workbench.evaluation.hybrid_tradeoff`): NDCG@k with
    its standard error, intra-list diversity, franchise duplicate rate and novelty, filter off
    (dashed) and on (solid). Returns the figure."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    panels = [(f"ndcg_at_{k}", f"NDCG@{k}"), ("intra_list_diversity", "intra-list diversity"),
              ("franchise_duplicate_rate", "franchise duplicate rate"),
              (f"novelty_at_{k}", f"novelty@{k} (bits)")]
    for ax, (column, label) in zip(axes, panels, strict=True):
        for on, style in ((False, "--"), (True, "-")):
            rows = table[table["franchise_filter"] == on].sort_values("alpha")
            ax.plot(rows["alpha"], rows[column], style, marker="o", ms=3,
                    label="filter on" if on else "filter off")
            if column == f"ndcg_at_{k}":
                se = rows[f"ndcg_at_{k}_se"]
                ax.fill_between(rows["alpha"], rows[column] - se, rows[column] + se, alpha=0.15)
        ax.set(xlabel="alpha (1 = content order)", title=label)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_segments(table, metric: str = "ndcg_at_10", title: str = ""):
    """``metric`` by segment (from :func:`workbench.segments.segment_metrics`: columns
    ``kind``, ``segment``, ``n`` and the metric; with a ``model`` column, one bar per model
    in each segment's group): one panel per kind (users by history, items by popularity),
    one group of bars per segment, labelled with its user count. Returns the figure."""
    import numpy as np

    kinds = list(dict.fromkeys(table["kind"]))
    models = list(dict.fromkeys(table["model"])) if "model" in table.columns else [None]
    fig, axes = plt.subplots(1, max(1, len(kinds)), figsize=(6 * max(1, len(kinds)), 3.6),
                             squeeze=False)
    names = {"user_segment": "users by training interactions",
             "item_segment": "held-out item by training popularity"}
    width = 0.8 / len(models)
    for ax, kind in zip(axes[0], kinds, strict=False):
        rows = table[table["kind"] == kind]
        segments = list(dict.fromkeys(rows["segment"]))
        counts = rows.groupby("segment", sort=False)["n"].max()
        for i, model in enumerate(models):
            part = rows if model is None else rows[rows["model"] == model]
            values = part.set_index("segment")[metric].reindex(segments)
            ax.bar(np.arange(len(segments)) + i * width, values, width,
                   label=model if model is not None else None)
        ax.set_xticks(np.arange(len(segments)) + width * (len(models) - 1) / 2,
                      [f"{s}\n(n={counts[s]})" for s in segments])
        ax.set(title=names.get(kind, kind), ylabel=metric)
        if models != [None]:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
