"""The dashboard's model line and legend: what the AI pick's model is (a blend's members and
weights, the figure it was chosen on) and what the numbers on the cards mean."""

from __future__ import annotations

from typing import Any

from workbench.hybrid import Recommender
from workbench.settings import Settings

MAX_PARAMS = 4
"""Hyperparameters named for a model that is not a blend."""


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def model_description(rec: Recommender, settings: Settings | None = None) -> str:
    """One line on the collaborative model: a blend's members and weights ("ease 1 + itemknn
    1.04 + content_knn 0.829"), another model's first hyperparameters, and, for the champion,
    the validation figure it was chosen on; empty without a model."""
    model = rec.collaborative
    if model is None:
        return ""
    params = model.config.params or {}
    if isinstance(params.get("members"), dict):
        parts = [" + ".join(f"{name} {_number(float(weight))}"
                            for name, weight in params["members"].items() if weight > 0)
                 + " (weights on each member's scores scaled to a maximum of 1)"]
    else:
        shown = [f"{key} {_number(value)}" for key, value in params.items()
                 if not isinstance(value, dict | list)][:MAX_PARAMS]
        parts = [", ".join(shown)] if shown else []
    parts.insert(0, f"{model.config.objective} feedback")
    if rec.model_label.startswith("champion"):
        from workbench.collaborative.champion import champion_info

        info = champion_info(rec.dataset, settings) or {}
        metric = info.get("selected_by")
        if metric and isinstance(info.get(metric), int | float):
            name = metric.removeprefix("val_full_").replace("_at_", "@").replace("ndcg", "NDCG")
            parts.append(f"chosen on validation {name} {info[metric]:.3f}")
    return "; ".join(parts)


def legend_html(rec: Recommender) -> str:
    """One line under the model: what the similarity and preference bars mean."""
    similarity = ("<b>similarity</b>: cosine of the item's text (title, plot, genres; title + "
                  "genres where there is no plot) to the query's or the seed item's, 0-1; a "
                  "free-text search is ordered by similarity + keywords + popularity")
    scale = rec.rating_scale
    if rec.collaborative is None:
        preference = ""
    elif scale is not None:
        preference = (f" · <b>preference</b>: the model's predicted rating on the catalog's "
                      f"scale {scale[0]:g}-{scale[1]:g}")
    else:
        preference = (" · <b>preference</b>: where the model ranks the item among the catalog "
                      "items this user has not rated (top 3% = above 97% of them)")
    return f'<p class="wb-legend">{similarity}{preference}</p>'

