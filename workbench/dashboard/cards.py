"""The dashboard's result cards: poster, title, genres, synopsis, the similarity and
preference bars and the reason (:func:`render_cards`).

Both bars are on a 0-1 scale that means the same on every card and in both modes:
similarity is the cosine of the item to the query or the seed item, preference the
percentile among the catalog's items the user has not rated (or, for a model that predicts
ratings, the rating's place on the catalog's scale); see :mod:`workbench.hybrid.explain`.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Collection

import numpy as np
import pandas as pd

from workbench.data import display_title, safe_image_url
from workbench.hybrid import Recommendations, Recommender, explain

CSS = """<style>
.wb-col h3 {margin: 4px 0 8px 0; font: 600 15px sans-serif;}
.wb-card {display: flex; gap: 10px; padding: 8px; margin-bottom: 8px; border: 1px solid #ddd;
          border-radius: 6px; background: #fff; font: 13px sans-serif; max-width: 560px;}
.wb-card img {width: 60px; height: 90px; object-fit: cover; border-radius: 4px; flex: none;}
.wb-title {font-weight: 600;} .wb-year {color: #666; font-weight: 400;}
.wb-badge {display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px;
           background: #eef; color: #335; font-size: 11px; font-weight: 400;}
.wb-genres {color: #555; font-size: 12px;}
.wb-synopsis {color: #333; display: -webkit-box; -webkit-line-clamp: 2;
              -webkit-box-orient: vertical; overflow: hidden; margin: 2px 0;}
.wb-bar {display: flex; align-items: center; gap: 6px; font-size: 11px; color: #444;}
.wb-bar .wb-track {width: 120px; height: 6px; background: #eee; border-radius: 3px;}
.wb-bar .wb-fill {height: 6px; border-radius: 3px; background: #4a7bd0;}
.wb-bar.pref .wb-fill {background: #d07a4a;}
.wb-why {color: #777; font-size: 11px; margin-top: 2px;}
.wb-note {color: #666; font: 12px sans-serif; margin: 0 0 6px 0;}
.wb-error {color: #b00020; font: 13px sans-serif;}
.wb-model {color: #444; font: 12px sans-serif; margin: 2px 0 2px 0;}
.wb-legend {color: #666; font: 11px sans-serif; margin: 0 0 6px 0; max-width: 1100px;}
.wb-busy {color: #335; font: 12px sans-serif; margin: 0 0 6px 0;}
.wb-busy::before {content: ""; display: inline-block; width: 10px; height: 10px;
                  margin-right: 6px; border: 2px solid #99b; border-top-color: transparent;
                  border-radius: 50%; animation: wb-spin 0.8s linear infinite;}
@keyframes wb-spin {to {transform: rotate(360deg);}}
.wb-history {font: 12px sans-serif; color: #333; max-width: 520px;}
.wb-history b {font-weight: 600;} .wb-history .wb-rating {color: #a60;}
.wb-card.wb-both {border-color: #2a8a4a; box-shadow: inset 4px 0 0 #2a8a4a;}
.wb-both-tag {display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px;
              background: #e3f4e8; color: #1d6b38; font-size: 11px; font-weight: 400;}
</style>"""


def placeholder_poster(title: str, year: object = None) -> str:
    """A data-URI SVG poster: the title's initials on a colour derived from the title."""
    hue = int(hashlib.sha256(title.encode()).hexdigest()[:4], 16) % 360
    initials = "".join(word[0] for word in title.split()[:2] if word[:1].isalnum()).upper()
    label = html.escape(initials or title[:2].upper())
    year_text = "" if year is None or pd.isna(year) else html.escape(str(year))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="60" height="90">'
           f'<rect width="60" height="90" fill="hsl({hue},45%,45%)"/>'
           f'<text x="30" y="48" font-family="sans-serif" font-size="20" fill="white" '
           f'text-anchor="middle">{label}</text>'
           f'<text x="30" y="80" font-family="sans-serif" font-size="10" fill="white" '
           f'text-anchor="middle">{year_text}</text></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _bar(label: str, fraction: float | None, css: str = "", tip: str = "") -> str:
    """One 0-1 bar with its label (the label carries the number and its unit)."""
    if fraction is None or not np.isfinite(fraction):
        return ""
    width = max(0.0, min(1.0, float(fraction))) * 100
    return (f'<div class="wb-bar {css}" title="{html.escape(tip, quote=True)}">'
            f'<div class="wb-track"><div class="wb-fill" style="width:{width:.0f}%"></div>'
            f'</div>{html.escape(label)}</div>')


def similarity_bar(cosine: float | None) -> str:
    """The match bar, one scale in both modes: the cosine of the item to the query or the
    seed item (0-1)."""
    if cosine is None or not np.isfinite(cosine):
        return ""
    return _bar(f"similarity {cosine:.2f}", cosine,
                tip="cosine similarity of the item's text (title, plot, genres) to the query's "
                    "or the seed item's, 0-1")


def preference_bar(value: float | None, percentile: float | None,
                   rating_scale: tuple[float, float] | None) -> str:
    """The preference bar: a predicted rating on the catalog's scale (explicit models), else
    the percentile among the catalog's items for this user."""
    if value is None or not np.isfinite(value):
        return ""
    if rating_scale is not None:
        low, high = rating_scale
        return _bar(f"predicted rating {value:.1f} / {high:g}",
                    explain.preference_fraction(value, np.nan, rating_scale), "pref",
                    f"the model's predicted rating on the catalog's scale {low:g}-{high:g}")
    if percentile is None or not np.isfinite(percentile):
        return ""
    return _bar(f"preference {explain.top_share(percentile)}", percentile, "pref",
                f"the model puts this item in the {explain.top_share(percentile)} of the "
                f"catalog items this user has not rated")


def render_cards(recs: Recommendations, rec: Recommender, heading: str,
                 marked: Collection[int] = ()) -> str:
    """HTML for one column: a heading, a one-line summary and a card per result; the cards
    of the ``marked`` items (in both lists of a comparison) carry ``wb-both`` and a tag."""
    frame = recs.frame
    scale = rec.rating_scale
    marked = {int(i) for i in marked}
    parts = [f'<div class="wb-col"><h3>{html.escape(heading)}</h3>',
             f'<p class="wb-note">{html.escape(recs.summary())}</p>']
    items = rec.items
    for row in frame.itertuples(index=False):
        item = items.loc[row.item_id]
        src = safe_image_url(item.get("poster_url")) or placeholder_poster(row.title, row.year)
        shown = display_title(row.title, row.year)
        year = ("" if shown == row.title else
                f' <span class="wb-year">{html.escape(shown[len(row.title):].strip())}</span>')
        size = int(rec.franchises.at[row.item_id, "franchise_size"])
        badge = (f'<span class="wb-badge" title="franchise">{html.escape(row.franchise)} '
                 f'· {size}</span>' if size > 1 else "")
        text = item.get("text")
        synopsis = html.escape(text) if isinstance(text, str) else "<i>no synopsis</i>"
        genres = " · ".join(html.escape(g) for g in row.genres)
        cosine = None if pd.isna(row.cosine) else float(row.cosine)
        prf = None if pd.isna(row.preference) else float(row.preference)
        pct = None if pd.isna(row.preference_percentile) else float(row.preference_percentile)
        both = int(row.item_id) in marked
        tag = '<span class="wb-both-tag">in both</span>' if both else ""
        parts.append(
            f'<div class="wb-card{" wb-both" if both else ""}" data-item="{int(row.item_id)}">'
            f'<img src="{html.escape(src, quote=True)}" alt="poster">'
            f'<div><div class="wb-title">{row.rank}. {html.escape(row.title)}{year}{badge}{tag}'
            f'</div><div class="wb-genres">{genres}</div>'
            f'<div class="wb-synopsis">{synopsis}</div>'
            f'{similarity_bar(cosine)}{preference_bar(prf, pct, scale)}'
            f'<div class="wb-why">{html.escape(row.reason)}</div></div></div>')
    if frame.empty:
        parts.append('<p class="wb-note">no results</p>')
    parts.append("</div>")
    return CSS + "".join(parts)
