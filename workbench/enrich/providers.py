"""Metadata providers behind one interface: TMDB for movies, Jikan (MyAnimeList) for anime.

``provider.find(title, year)`` searches by title, picks the best candidate
(:func:`best_match`: title similarity, with the release year as a hint so the right one of
several remakes is chosen) and returns its full :class:`ItemMetadata` in the workbench schema's
terms. Keys come from the environment (``TMDB_API_KEY``); Jikan needs none. Base URLs come
from the settings (``WORKBENCH_TMDB_URL``, ``WORKBENCH_JIKAN_URL``), which is also how tests
point the providers at local fake servers.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from workbench.data.schema import YEAR_RANGE
from workbench.enrich.http import CachedHttp, ProviderError
from workbench.settings import Settings, get_settings

TMDB_IMAGE_BASE = "https://image.tmdb.org/t/p/w342"
MIN_TITLE_SIMILARITY = 0.6


@dataclass
class ItemMetadata:
    """One item as a provider describes it (fields named as in the items schema)."""

    provider: str
    provider_id: int
    title: str
    year: int | None = None
    text: str | None = None
    alt_titles: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    language: str | None = None
    runtime: float | None = None
    episodes: int | None = None
    item_type: str | None = None
    popularity: float | None = None
    vote_average: float | None = None
    vote_count: int | None = None
    collection: str | None = None
    poster_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Provider(Protocol):
    """What every provider offers."""

    name: str

    def search(self, title: str, year: int | None = None) -> list[ItemMetadata]: ...

    def details(self, provider_id: int) -> ItemMetadata: ...

    def find(self, title: str, year: int | None = None) -> ItemMetadata: ...


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


def match_score(query: str, year: int | None, candidate: ItemMetadata) -> float:
    """Title similarity (best over the candidate's titles, 0-1) plus a year bonus: 0.5 for the
    same year, 0.2 for one year off (release dates differ between countries)."""
    titles = [candidate.title, *candidate.alt_titles]
    similarity = max(difflib.SequenceMatcher(None, _norm(query), _norm(t)).ratio()
                     for t in titles if t)
    bonus = 0.0
    if year is not None and candidate.year is not None:
        bonus = 0.5 if candidate.year == year else 0.2 if abs(candidate.year - year) == 1 else 0
    return similarity + bonus


def best_match(candidates: list[ItemMetadata], title: str, year: int | None,
               provider: str) -> ItemMetadata:
    """The candidate that best matches ``title`` (and ``year``); a clear error when none
    resembles the title."""
    if not candidates:
        raise ProviderError(f"{provider}: nothing found for {title!r}"
                            + (f" ({year})" if year else ""))
    scored = sorted(candidates, key=lambda c: match_score(title, year, c), reverse=True)
    best = scored[0]
    titles = [best.title, *best.alt_titles]
    if max(difflib.SequenceMatcher(None, _norm(title), _norm(t)).ratio()
           for t in titles if t) < MIN_TITLE_SIMILARITY:
        raise ProviderError(f"{provider}: no title like {title!r}; closest: {best.title!r}")
    return best


INT64_MAX = 2**63 - 1


def _year(date: Any) -> int | None:
    match = re.match(r"(\d{4})", str(date or ""))
    year = int(match.group(1)) if match else None
    return year if year is not None and YEAR_RANGE[0] <= year <= YEAR_RANGE[1] else None


def _names(entries: Any) -> list[str]:
    return [str(e["name"]).strip() for e in entries or [] if isinstance(e, dict) and e.get("name")]


def _float(value: Any, positive: bool = False, at_most: float = 1e12) -> float | None:
    """A finite number from a provider answer, or None (text, NaN, inf, absurd sizes)."""
    try:
        number = None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if number is None or not math.isfinite(number) or abs(number) > at_most:
        return None
    return None if positive and number <= 0 else number


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _id(value: Any, what: str) -> int:
    """A provider id: a non-negative integer that fits the catalogs' int64 ids."""
    try:
        number = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 <= number <= INT64_MAX:
        raise ProviderError(f"the provider answered an entry whose {what} is not an id: "
                            f"{str(value)[:40]!r}")
    return number


def _rating(average: Any, count: Any) -> tuple[float | None, int | None]:
    """A provider's mean vote (0-10) and count; an average of 0 from nobody, or values out of
    range (a count of 1e30), are no rating."""
    votes = _int(count)
    mean = _float(average, at_most=10)
    if mean is not None and mean < 0:
        mean = None
    return (None, votes) if not votes or votes < 0 or mean is None else (mean, votes)


class TMDBProvider:
    """TMDB (themoviedb.org) v3 API: /search/movie and /movie/{id}."""

    name = "TMDB"

    def __init__(self, settings: Settings | None = None, api_key: str | None = None) -> None:
        settings = settings or get_settings()
        self.api_key = api_key if api_key is not None else os.environ.get("TMDB_API_KEY", "")
        self.http = CachedHttp(self.name, settings.tmdb_url, settings.http_cache_dir,
                               timeout_s=settings.provider_timeout_s,
                               retries=settings.provider_retries,
                               min_interval_s=settings.provider_min_interval_s)

    def _get(self, path: str, **params: Any) -> Any:
        if not self.api_key:
            raise ProviderError("TMDB_API_KEY is not set: movie metadata needs a TMDB API key "
                                "(https://www.themoviedb.org/settings/api); everything else "
                                "works without it")
        return self.http.get_json(path, {**params, "api_key": self.api_key})

    def _parse(self, raw: dict) -> ItemMetadata:
        if not isinstance(raw, dict) or "id" not in raw or not raw.get("title"):
            raise ProviderError(f"TMDB answered an entry without id/title: {str(raw)[:80]}")
        keywords = raw.get("keywords", {})
        collection = raw.get("belongs_to_collection") or {}
        poster = raw.get("poster_path")
        return ItemMetadata(
            provider=self.name, provider_id=_id(raw["id"], "id"), title=str(raw["title"]),
            year=_year(raw.get("release_date")), text=(raw.get("overview") or None),
            alt_titles=[t for t in [raw.get("original_title")] if t and t != raw["title"]],
            genres=_names(raw.get("genres")),
            keywords=_names(keywords.get("keywords") if isinstance(keywords, dict) else None),
            companies=_names(raw.get("production_companies")),
            language=raw.get("original_language") or None,
            runtime=_float(raw.get("runtime"), positive=True),
            item_type="Movie", popularity=_float(raw.get("popularity")),
            vote_average=_rating(raw.get("vote_average"), raw.get("vote_count"))[0],
            vote_count=_rating(raw.get("vote_average"), raw.get("vote_count"))[1],
            collection=collection.get("name") if isinstance(collection, dict) else None,
            poster_url=f"{TMDB_IMAGE_BASE}{poster}" if poster else None)

    def search(self, title: str, year: int | None = None) -> list[ItemMetadata]:
        data = self._get("search/movie", query=title)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ProviderError("TMDB answered a search without a results list")
        return [self._parse(r) for r in results]

    def details(self, provider_id: int) -> ItemMetadata:
        return self._parse(self._get(f"movie/{int(provider_id)}",
                                     append_to_response="keywords"))

    def find(self, title: str, year: int | None = None) -> ItemMetadata:
        return self.details(best_match(self.search(title, year), title, year,
                                       self.name).provider_id)


class JikanProvider:
    """Jikan v4 (an open MyAnimeList API; no key): /anime?q= and /anime/{id}/full."""

    name = "Jikan"

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.http = CachedHttp(self.name, settings.jikan_url, settings.http_cache_dir,
                               timeout_s=settings.provider_timeout_s,
                               retries=settings.provider_retries,
                               min_interval_s=max(settings.provider_min_interval_s, 0.35))

    def _parse(self, raw: dict) -> ItemMetadata:
        if not isinstance(raw, dict) or "mal_id" not in raw or not raw.get("title"):
            raise ProviderError(f"Jikan answered an entry without mal_id/title: "
                                f"{str(raw)[:80]}")
        aired = raw.get("aired") or {}
        year = _year(_int(raw.get("year"))) or _year(aired.get("from") if isinstance(aired, dict)
                                                     else None)
        duration = re.match(r"(\d+)\s*min", str(raw.get("duration") or ""))
        image = ((raw.get("images") or {}).get("jpg") or {}).get("image_url")
        alt = [raw.get("title_english"), raw.get("title_japanese")]
        return ItemMetadata(
            provider=self.name, provider_id=_id(raw["mal_id"], "mal_id"), title=str(raw["title"]),
            year=int(year) if year else None, text=raw.get("synopsis") or None,
            alt_titles=[t for t in alt if t and t != raw["title"]],
            genres=_names(raw.get("genres")) + _names(raw.get("themes")),
            companies=_names(raw.get("studios")), language="ja",
            runtime=_float(duration.group(1), positive=True) if duration else None,
            episodes=_int(raw.get("episodes")) or None,
            item_type=raw.get("type") or None, popularity=_float(raw.get("members")),
            vote_average=_rating(raw.get("score"), raw.get("scored_by"))[0],
            vote_count=_rating(raw.get("score"), raw.get("scored_by"))[1],
            poster_url=image or None)

    def search(self, title: str, year: int | None = None) -> list[ItemMetadata]:
        data = self.http.get_json("anime", {"q": title, "limit": 10})
        results = data.get("data") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ProviderError("Jikan answered a search without a data list")
        return [self._parse(r) for r in results]

    def details(self, provider_id: int) -> ItemMetadata:
        data = self.http.get_json(f"anime/{int(provider_id)}/full")
        return self._parse(data.get("data") if isinstance(data, dict) else None)

    def find(self, title: str, year: int | None = None) -> ItemMetadata:
        return self.details(best_match(self.search(title, year), title, year,
                                       self.name).provider_id)


def provider_for(dataset: str, settings: Settings | None = None) -> Provider:
    """The provider of a dataset's catalog (its spec's ``provider``: TMDB for movies, Jikan
    for anime)."""
    from workbench.data import get_dataset

    spec = get_dataset(dataset, settings)
    providers = {"tmdb": TMDBProvider, "jikan": JikanProvider}
    if spec.provider not in providers:
        raise ProviderError(f"no metadata provider for dataset {dataset!r} (a spec names one "
                            f"with `provider: tmdb` or `provider: jikan`)")
    return providers[spec.provider](settings)
