"""What a result's numbers mean, in words a person can read (the ``reason`` of each row and
the dashboard's bars).

- **Similarity** is the cosine of the item's content vector to the query's (free text) or to
  the seed item's (more like this): the same 0-1 scale in both modes (negative values are
  possible but never near the top). What the vector holds is named: "plot similarity" for an
  item with a plot text, "title + genres similarity" for one without (a catalog of titles
  and genres only, or an item whose synopsis is missing: see
  :func:`workbench.content.ranking.weak_text_mask`). A free-text search *orders* by its fused
  score (similarity + keywords + popularity, :mod:`workbench.content.ranking`); that score
  has no fixed scale, so it is shown as the search rank, not as a number.
- **Preference** is the collaborative model's score. An implicit model's score has no unit,
  so it is shown as a percentile: the share of the catalog's items the user has not rated
  that score lower for this user ("top 3%" of the catalog). An explicit model predicts a
  rating, shown on the catalog's rating scale ("predicted rating 4.2 on 0.5-5").
"""

from __future__ import annotations

import math

import numpy as np

PLOT_SIMILARITY = "plot similarity"
TITLE_GENRES_SIMILARITY = "title + genres similarity"


def similarity_label(has_plot: bool) -> str:
    """What a similarity compares: the plot (title and genres too), or title and genres only."""
    return PLOT_SIMILARITY if has_plot else TITLE_GENRES_SIMILARITY


def percentiles(values: np.ndarray, catalog: np.ndarray) -> np.ndarray:
    """The share of ``catalog`` scores strictly below each of ``values`` (0-1; NaN stays NaN,
    an empty catalog gives NaN)."""
    values = np.asarray(values, np.float64)
    ordered = np.sort(np.asarray(catalog, np.float64)[np.isfinite(catalog)])
    if not len(ordered):
        return np.full(len(values), np.nan)
    out = np.searchsorted(ordered, values, side="left") / len(ordered)
    return np.where(np.isfinite(values), out, np.nan)


def top_share(percentile: float) -> str:
    """``"top 3%"`` for the 0.975 percentile: rounded up (to 0.1 under 1%), so the claim
    holds ("top 0.1%" for the best of 5,000)."""
    top = max(0.0, (1.0 - float(percentile)) * 100)
    if top < 1:
        return f"top {max(math.ceil(top * 10 - 1e-9), 1) / 10:.1f}%"
    return f"top {math.ceil(top - 1e-9):.0f}%"


def preference_text(label: str, value: float, percentile: float,
                    rating_scale: tuple[float, float] | None) -> str:
    """A preference in words: a predicted rating on the catalog's scale (explicit models), or
    the percentile among the catalog for this user (``label: top 3% of the catalog``)."""
    if rating_scale is not None:
        low, high = rating_scale
        return f"{label} {value:.1f} on {low:g}-{high:g}"
    if not np.isfinite(percentile):
        return label
    return f"{label}: {top_share(percentile)} of the catalog"


def preference_fraction(value: float, percentile: float,
                        rating_scale: tuple[float, float] | None) -> float:
    """Where a preference sits on its 0-1 bar: the rating's place on the scale, else the
    percentile."""
    if rating_scale is not None:
        low, high = rating_scale
        return float(np.clip((value - low) / (high - low), 0, 1)) if high > low else 1.0
    return float(percentile)
