"""The HTTP layer of the metadata providers: one ``requests`` session with urllib3 retries
(backoff on 429 and 5xx, honouring ``Retry-After``), timeouts, a rate limit and an on-disk
response cache, turning every failure into a one-line :class:`ProviderError`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from workbench import WorkbenchError
from workbench.storage import write_json

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER_S = 60.0
"""A server's Retry-After is honoured up to this many seconds."""
SECRET_PARAMS = frozenset({"api_key"})
"""Query parameters never written to the cache key or to error messages."""


class _CappedRetry(Retry):
    """urllib3's Retry that honours Retry-After up to :data:`MAX_RETRY_AFTER_S` and gives up
    at once (a :class:`ProviderError`) when a server asks for longer: a request never
    blocks for more than ``retries`` x the cap."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        if response is not None:
            wait = Retry.get_retry_after(self, response)
            if wait is not None and wait > MAX_RETRY_AFTER_S:
                raise ProviderError(f"the server asks to wait {wait:.0f} s before asking again "
                                    f"(Retry-After), more than the {MAX_RETRY_AFTER_S:.0f} s "
                                    f"the workbench waits; try again later")
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _RedactKeys(logging.Filter):
    """Keep API keys out of every urllib3 log record, at every level (the DEBUG request
    lines and the retry warnings carry the full URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "api_key=" in message:
            record.msg, record.args = _KEY.sub(r"\1=***", message), ()
        return True


_KEY = re.compile(r"(api_key)=[^&\s'\")]+")
for _name in ("urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager",
              "urllib3.response", "urllib3.util.retry", "requests"):
    logging.getLogger(_name).addFilter(_RedactKeys())


class ProviderError(WorkbenchError):
    """A metadata provider could not answer (offline, no key, timeout, bad answer)."""


class CachedHttp:
    """GET JSON from one provider: retries, timeouts, rate limit, cache."""

    def __init__(self, name: str, base_url: str, cache_dir: Path | None, timeout_s: float = 10.0,
                 retries: int = 3, backoff_s: float = 0.5, min_interval_s: float = 0.0) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s
        self.retries = retries
        self.min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._last = 0.0
        retry = _CappedRetry(total=retries, connect=0, read=retries, status=retries,
                      backoff_factor=backoff_s, status_forcelist=RETRY_STATUSES,
                      allowed_methods=frozenset({"GET"}), respect_retry_after_header=True,
                      raise_on_status=False)
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.headers["User-Agent"] = "hybrid-recommender-workbench"

    def _cache_path(self, path: str, params: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        public = {k: v for k, v in sorted(params.items()) if k not in SECRET_PARAMS}
        key = hashlib.sha256(json.dumps([self.base_url, path, public], default=str).encode()
                             ).hexdigest()
        return self.cache_dir / self.name.lower() / f"{key}.json"

    def _wait_turn(self) -> None:
        with self._lock:
            wait = self._last + self.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def get_json(self, path: str, params: dict[str, Any] | None = None,
                 use_cache: bool = True) -> Any:
        """The decoded JSON answer of ``GET base_url/path?params`` (cached on disk)."""
        params = dict(params or {})
        cached = self._cache_path(path, params) if use_cache else None
        if cached is not None and cached.is_file():
            try:
                return json.loads(cached.read_text())
            except ValueError:
                cached.unlink(missing_ok=True)  # a damaged cache entry is refetched
        url = f"{self.base_url}/{path.lstrip('/')}"
        shown = f"{url} (" + ", ".join(f"{k}={v}" for k, v in params.items()
                                        if k not in SECRET_PARAMS) + ")"
        self._wait_turn()
        try:
            response = self.session.get(url, params=params, timeout=self.timeout_s)
        except (requests.Timeout, requests.exceptions.RetryError):
            raise ProviderError(f"{self.name}: no answer within {self.timeout_s:g} s "
                                f"after {self.retries} retries: {shown}") from None
        except requests.ConnectionError as exc:
            if "timed out" in str(exc) or "Read timed out" in str(exc):
                raise ProviderError(f"{self.name}: no answer within {self.timeout_s:g} s "
                                    f"after {self.retries} retries: {shown}") from None
            raise ProviderError(f"{self.name} is unreachable (offline?): {shown}") from None
        except requests.RequestException as exc:  # truncated body, redirects, bad URL
            raise ProviderError(f"{self.name}: request failed ({type(exc).__name__}): "
                                f"{shown}") from None
        if response.status_code == 401:
            raise ProviderError(f"{self.name} rejected the API key (HTTP 401)")
        if response.status_code == 404:
            raise ProviderError(f"{self.name}: not found (HTTP 404): {shown}")
        if response.status_code >= 400:
            raise ProviderError(f"{self.name} answered HTTP {response.status_code} after "
                                f"{self.retries} retries: {shown}")
        try:
            data = response.json()
        except ValueError:
            raise ProviderError(f"{self.name} answered malformed JSON: {shown}: "
                                f"{response.text[:80]!r}") from None
        if cached is not None:
            with contextlib.suppress(OSError):  # a full disk costs the cache, not the answer
                write_json(cached, data)
        return data
