"""Hybrid recommender: content candidates re-ranked by predicted preference ("AI pick"),
beside the pure content match; the personalised feed; franchise filtering; new users.

::

    from workbench.hybrid import Recommender
    rec = Recommender.load("anime")
    rec.content_match(query="time travel thriller", k=10)
    rec.ai_pick(query="time travel thriller", user_id=42, alpha=0.5)
    rec.personalized_feed(user_id=42)
    rec.franchises.query("franchise == 'naruto'")      # the franchise grouping, inspectable
"""

from workbench.hybrid.franchise import franchise_table, title_stem
from workbench.hybrid.recommender import (
    DEFAULT_MODEL,
    Candidates,
    HybridConfig,
    Recommendations,
    Recommender,
    RecommenderError,
)
from workbench.hybrid.users import FoldIn, NewUser

__all__ = [
    "DEFAULT_MODEL",
    "Candidates",
    "FoldIn",
    "HybridConfig",
    "NewUser",
    "Recommendations",
    "Recommender",
    "RecommenderError",
    "franchise_table",
    "title_stem",
]
