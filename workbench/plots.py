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
