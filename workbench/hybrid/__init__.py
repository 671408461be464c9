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

from workbench.hybrid.config import HybridConfig

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


def __getattr__(name: str):
    """The rest loads on first use (the recommender brings the content engine, FAISS and
    the models: about 1.5 s), so ``workbench.hybrid.config`` stays cheap for the CLI."""
    if name in ("franchise_table", "title_stem"):
        from workbench.hybrid import franchise

        return getattr(franchise, name)
    if name in ("FoldIn", "NewUser"):
        from workbench.hybrid import users

        return getattr(users, name)
    if name in __all__:
        from workbench.hybrid import recommender

        return getattr(recommender, name)
    raise AttributeError(f"module 'workbench.hybrid' has no attribute {name!r}")
