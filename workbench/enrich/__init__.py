"""Item metadata from providers (TMDB for movies, Jikan for anime): the cold-start and
self-healing building blocks.

::

    from workbench.enrich import provider_for
    meta = provider_for("movies").find("The Thing", year=1982)   # needs TMDB_API_KEY
"""

from workbench.enrich.http import CachedHttp, ProviderError
from workbench.enrich.providers import (
    ItemMetadata,
    JikanProvider,
    Provider,
    TMDBProvider,
    best_match,
    match_score,
    provider_for,
)

__all__ = [
    "CachedHttp",
    "ItemMetadata",
    "JikanProvider",
    "Provider",
    "ProviderError",
    "TMDBProvider",
    "best_match",
    "match_score",
    "provider_for",
]
