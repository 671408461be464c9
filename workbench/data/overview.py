"""Dataset overview: summary statistics and the figures of ``01_data_overview.ipynb``.

The statistics are plain functions of the prepared tables, so the CLI, the notebook and the
tests share them; each plot function draws on a Matplotlib axis it is given or creates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from workbench.data.prepare import PrepareReport


@dataclass(frozen=True)
class DatasetSummary:
    """Headline numbers of a prepared dataset."""

    dataset: str
    items: int
    items_with_text: int
    items_rated: int
    users: int
    interactions: int
    sparsity: float
    """1 - interactions / (users x rated items)."""
    rating_min: float
    rating_max: float
    rating_mean: float
    ratings_per_user_median: float
    has_timestamps: bool
    issues_nulled: int
    issues_skipped: int

    def as_dict(self) -> dict:
        """Plain dict (for MLflow and JSON)."""
        return asdict(self)


def summarize(
    dataset: str, items: pd.DataFrame, interactions: pd.DataFrame,
    report: PrepareReport | None = None,
) -> DatasetSummary:
    """Compute the :class:`DatasetSummary` of a prepared dataset."""
    users = interactions["user_id"].nunique()
    rated = interactions["item_id"].nunique()
    cells = users * rated
    issues = report.issues.values() if report else []
    return DatasetSummary(
        dataset=dataset,
        items=len(items),
        items_with_text=int(items["text"].notna().sum()),
        items_rated=int(rated),
        users=int(users),
        interactions=len(interactions),
        sparsity=float(1 - len(interactions) / cells) if cells else 1.0,
        rating_min=float(interactions["rating"].min()),
        rating_max=float(interactions["rating"].max()),
        rating_mean=float(interactions["rating"].mean()),
        ratings_per_user_median=float(interactions.groupby("user_id").size().median()),
        has_timestamps=bool(interactions["timestamp"].notna().any()),
        issues_nulled=sum(i.count for i in issues if i.action == "nulled"),
        issues_skipped=sum(i.count for i in issues if i.action == "skipped"),
    )


def format_summaries(summaries: list[DatasetSummary]) -> str:
    """A fixed-width text table of several summaries (one column per dataset)."""
    rows = [
        ("items", lambda s: f"{s.items:,}"),
        ("items with text", lambda s: f"{s.items_with_text:,}"),
        ("items rated", lambda s: f"{s.items_rated:,}"),
        ("users", lambda s: f"{s.users:,}"),
        ("interactions", lambda s: f"{s.interactions:,}"),
        ("sparsity", lambda s: f"{s.sparsity:.4f}"),
        ("rating range", lambda s: f"{s.rating_min:g}-{s.rating_max:g}"),
        ("rating mean", lambda s: f"{s.rating_mean:.2f}"),
        ("ratings/user (median)", lambda s: f"{s.ratings_per_user_median:g}"),
        ("timestamps", lambda s: "yes" if s.has_timestamps else "no (stated, not invented)"),
        ("values nulled", lambda s: f"{s.issues_nulled:,}"),
        ("rows skipped", lambda s: f"{s.issues_skipped:,}"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    cols = [max(len(s.dataset), *(len(f(s)) for _, f in rows)) + 2 for s in summaries]
    header = " " * width + "".join(s.dataset.rjust(c) for s, c in zip(summaries, cols, strict=True))
    lines = [header]
    for label, fmt in rows:
        lines.append(label.ljust(width) + "".join(
            fmt(s).rjust(c) for s, c in zip(summaries, cols, strict=True)))
    return "\n".join(lines)


def format_report(report: PrepareReport) -> str:
    """The prepare report's issues as text lines, largest first."""
    lines = [f"prepare report for {report.dataset}:"]
    for reason, issue in sorted(report.issues.items(), key=lambda kv: -kv[1].count):
        lines.append(f"  {issue.count:>7,}  {issue.action:<7}  {reason}")
    lines.extend(f"  note: {note}" for note in report.notes)
    return "\n".join(lines)


def _axis(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.figure(figsize=(6, 3.5)).add_subplot()


def plot_rating_distribution(interactions: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Bar chart of how often each rating value occurs."""
    ax = _axis(ax)
    counts = interactions["rating"].value_counts().sort_index()
    width = float(np.min(np.diff(counts.index))) * 0.8 if len(counts) > 1 else 0.8
    ax.bar(counts.index, counts.to_numpy(), width=width)
    ax.set(title="Rating distribution", xlabel="rating", ylabel="interactions")
    return ax


def plot_long_tail(interactions: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Interactions per item, items sorted by popularity (log scale): the long tail."""
    ax = _axis(ax)
    per_item = interactions.groupby("item_id").size().sort_values(ascending=False).to_numpy()
    ax.plot(np.arange(1, len(per_item) + 1), per_item)
    share = per_item.cumsum() / per_item.sum()
    head = int(np.searchsorted(share, 0.5)) + 1
    ax.axvline(head, color="grey", linestyle="--", label=f"{head} items = 50% of interactions")
    ax.set(title="Long tail", xlabel="item rank", ylabel="interactions", yscale="log")
    ax.legend()
    return ax


def genre_counts(items: pd.DataFrame) -> pd.Series:
    """Number of items per genre, descending."""
    return items["genres"].explode().dropna().value_counts()


def plot_genre_counts(items: pd.DataFrame, top: int = 20, ax: Axes | None = None) -> Axes:
    """Horizontal bars of the ``top`` most frequent genres."""
    ax = _axis(ax)
    counts = genre_counts(items).head(top)[::-1]
    ax.barh(counts.index, counts.to_numpy())
    ax.set(title=f"Top {len(counts)} genres", xlabel="items")
    return ax


def plot_text_lengths(items: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Histogram of plot/synopsis length in words (items with text)."""
    ax = _axis(ax)
    words = items["text"].dropna().str.split().str.len()
    ax.hist(words, bins=40)
    ax.set(title=f"Text length ({len(words):,} items with text)", xlabel="words", ylabel="items")
    return ax
