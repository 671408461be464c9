"""TMDB and Jikan providers against local fake servers through the real HTTP stack."""

from __future__ import annotations

import time

import pytest

from tests.enrich.fake_servers import FakeServer, jikan_routes, tmdb_routes
from tests.helpers import free_port
from workbench.enrich import JikanProvider, ProviderError, TMDBProvider
from workbench.settings import Settings


@pytest.fixture
def tmdb_server():
    with FakeServer(tmdb_routes) as server:
        yield server


@pytest.fixture
def jikan_server():
    with FakeServer(jikan_routes) as server:
        yield server


def _settings(tmp_path, **kw) -> Settings:
    base = {"home": tmp_path, "data_mirror": tmp_path / "none", "provider_timeout_s": 2.0,
            "provider_retries": 2}
    return Settings(**{**base, **kw})


def _tmdb(tmp_path, server, key="test-key", **kw) -> TMDBProvider:
    return TMDBProvider(_settings(tmp_path, tmdb_url=f"{server.url}/3", **kw), api_key=key)


def test_tmdb_happy_path_and_cache(tmp_path, tmdb_server) -> None:
    meta = _tmdb(tmp_path, tmdb_server).find("Inception", 2010)
    assert (meta.provider_id, meta.title, meta.year) == (27205, "Inception", 2010)
    assert meta.genres == ["Action"] and meta.keywords == ["dream"]
    assert meta.companies == ["Legendary Pictures"] and meta.runtime == 148.0
    assert meta.poster_url == "https://image.tmdb.org/t/p/w342/inception.jpg"
    assert "dream-sharing" in meta.text
    served = len(tmdb_server.requests)
    again = _tmdb(tmp_path, tmdb_server).find("Inception", 2010)  # a new client, same cache
    assert again == meta and len(tmdb_server.requests) == served
    cached = list((tmp_path / "models" / "cache" / "http" / "tmdb").glob("*.json"))
    assert len(cached) == 2 and not any("test-key" in p.read_text() for p in cached)


def test_remakes_are_told_apart_by_year(tmp_path, tmdb_server) -> None:
    provider = _tmdb(tmp_path, tmdb_server)
    assert provider.find("The Thing", 1982).provider_id == 1091
    older = provider.find("The Thing", 2011)
    assert older.provider_id == 60935 and older.collection == "The Thing Collection"
    with pytest.raises(ProviderError, match="nothing found for 'Zzyzx Road'"):
        provider.find("Zzyzx Road", 2006)


@pytest.mark.reliability
def test_no_key_and_a_rejected_key(tmp_path, tmdb_server, monkeypatch) -> None:
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    provider = TMDBProvider(_settings(tmp_path, tmdb_url=f"{tmdb_server.url}/3"))
    with pytest.raises(ProviderError, match="TMDB_API_KEY is not set"):
        provider.find("Inception")
    assert tmdb_server.requests == []  # nothing was sent
    monkeypatch.setenv("TMDB_API_KEY", "wrong")
    with pytest.raises(ProviderError, match="rejected the API key"):
        TMDBProvider(_settings(tmp_path, tmdb_url=f"{tmdb_server.url}/3")).find("Inception")


def test_429_with_retry_after_is_waited_out(tmp_path, tmdb_server) -> None:
    tmdb_server.script["/3/search"] = [
        {"status": 429, "headers": {"Retry-After": "1"}, "body": {"status_code": 25}},
        {"status": 200, "body": {"results": []}}]
    started = time.perf_counter()
    assert _tmdb(tmp_path, tmdb_server).search("Inception") == []  # the answer after the wait
    assert time.perf_counter() - started >= 1.0  # Retry-After, not the (shorter) backoff
    assert len(tmdb_server.requests) == 2


@pytest.mark.reliability
def test_a_retry_after_beyond_the_cap_fails_at_once(tmp_path, tmdb_server) -> None:
    tmdb_server.script["/3/search"] = [
        {"status": 429, "headers": {"Retry-After": "100000"}, "body": {"status_code": 25}}]
    started = time.perf_counter()
    with pytest.raises(ProviderError, match=r"asks to wait \d+ s .* try again later"):
        _tmdb(tmp_path, tmdb_server).search("Inception")
    assert time.perf_counter() - started < 5  # not 3 x 60 s
    assert len(tmdb_server.requests) == 1


@pytest.mark.reliability
def test_the_key_stays_out_of_debug_logs(tmp_path, tmdb_server, caplog) -> None:
    tmdb_server.script["/3/search"] = [{"status": 200, "body": {"results": []}}]
    caplog.set_level("DEBUG")
    _tmdb(tmp_path, tmdb_server).search("Inception")
    assert "/3/search" in caplog.text  # urllib3 logged the request line ...
    assert "test-key" not in caplog.text  # ... without the key


def test_5xx_is_retried_then_reported(tmp_path, tmdb_server) -> None:
    tmdb_server.script["/3/search"] = [{"status": 502, "body": "bad gateway"},
                                       {"status": 200, "body": {"results": []}}]
    assert _tmdb(tmp_path, tmdb_server).search("Inception") == []
    tmdb_server.script["/3/search"] = [{"status": 503, "body": "down"}]
    with pytest.raises(ProviderError, match="HTTP 503 after 2 retries"):
        _tmdb(tmp_path, tmdb_server).search("Alien")


@pytest.mark.reliability
def test_timeout_is_a_clear_error_and_the_key_stays_out_of_logs(tmp_path, tmdb_server,
                                                                   caplog) -> None:
    tmdb_server.script["/3/search"] = [{"delay": 1.5, "body": {"results": []}}]
    provider = _tmdb(tmp_path, tmdb_server, provider_timeout_s=0.3, provider_retries=1)
    caplog.set_level("WARNING", logger="urllib3")
    with pytest.raises(ProviderError, match=r"no answer within 0.3 s after 1 retries") as err:
        provider.search("Inception")
    assert "Retrying" in caplog.text  # urllib3 logged the retry ...
    assert "test-key" not in caplog.text + str(err.value)  # ... without the key


def test_odd_provider_values_become_missing(tmp_path) -> None:
    provider = TMDBProvider(_settings(tmp_path), api_key="k")
    meta = provider._parse({"id": 7, "title": "Unrated", "runtime": 0, "vote_average": 0,
                            "vote_count": 0, "release_date": ""})
    assert (meta.runtime, meta.vote_average, meta.year) == (None, None, None)
    jikan = JikanProvider(_settings(tmp_path))._parse(
        {"mal_id": 1, "title": "x", "episodes": "?", "scored_by": None, "score": None})
    assert jikan.episodes is None and jikan.vote_count is None


def test_malformed_json_and_wrong_shapes(tmp_path, tmdb_server) -> None:
    tmdb_server.script["/3/search"] = [{"body": "{not json"}]
    with pytest.raises(ProviderError, match="malformed JSON"):
        _tmdb(tmp_path, tmdb_server).search("Inception")
    tmdb_server.script["/3/search"] = [{"body": {"page": 1}}]
    with pytest.raises(ProviderError, match="without a results list"):
        _tmdb(tmp_path, tmdb_server).search("Alien")


def test_offline_is_one_line(tmp_path) -> None:
    port = free_port()  # nothing listens there
    provider = TMDBProvider(_settings(tmp_path, tmdb_url=f"http://127.0.0.1:{port}/3"),
                            api_key="test-key")
    with pytest.raises(ProviderError, match=r"TMDB is unreachable \(offline\?\)") as err:
        provider.search("Inception")
    assert "test-key" not in str(err.value)


def test_jikan_happy_path_and_year_hint(tmp_path, jikan_server) -> None:
    provider = JikanProvider(_settings(tmp_path, jikan_url=f"{jikan_server.url}/v4",
                                       provider_min_interval_s=0.0))
    meta = provider.find("Steins;Gate", 2011)
    assert (meta.provider_id, meta.year, meta.episodes, meta.runtime) == (9253, 2011, 24, 24.0)
    assert meta.genres == ["Drama", "Sci-Fi", "Time Travel"] and meta.companies == ["White Fox"]
    assert meta.item_type == "TV" and meta.vote_average == 9.07
    assert provider.find("Steins;Gate 0", 2018).provider_id == 32188


@pytest.mark.parametrize(("raw", "problem"), [
    ({"id": 2**70, "title": "X"}, "not an id"),
    ({"id": "abc", "title": "X"}, "not an id"),
    ({"id": -5, "title": "X"}, "not an id"),
])
def test_provider_ids_that_are_no_ids_are_one_clear_error(tmp_path, raw, problem) -> None:
    provider = TMDBProvider(_settings(tmp_path), api_key="k")
    with pytest.raises(ProviderError, match=problem):
        provider._parse(raw)


def test_provider_values_out_of_range_become_missing(tmp_path) -> None:
    provider = TMDBProvider(_settings(tmp_path), api_key="k")
    meta = provider._parse({"id": 7, "title": "X", "vote_average": 7.5, "vote_count": 1e30,
                            "release_date": "99999-01-01", "runtime": float("inf"),
                            "popularity": "lots"})
    assert meta.vote_count is None and meta.vote_average is None
    assert meta.year is None and meta.runtime is None and meta.popularity is None
    assert provider._parse({"id": 7, "title": "X", "vote_average": 11,
                            "vote_count": 3}).vote_average is None
