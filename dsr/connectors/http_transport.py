"""Sending one request to an http system, the careful way.

- Confined: a request never leaves the base URL (origin and path, segment by segment); a GET follows
  redirects only within it, any other method never follows one.
- Paced and bounded: `rate_limit` requests per second and at most `max_concurrency` at once, per system
  and process; answers are capped at `max_response_bytes`.
- Polite when busy: a 429, or a 503 with Retry-After, is waited out (Retry-After in seconds or as a date,
  or a vendor's rate-limit reset header; without any, 1, 2, 4 ... seconds) at most `busy_retries` times and never longer than `max_retry_after`
  each; meanwhile no other request to the system starts. Beyond that the error is retryable: the job's
  own retries come later.
- Authenticated by dsr.connectors.http_auth; a 401 drops a fetched token and asks once more.

Messages name the system, what was asked (lookup, a collection, an action) and the status, never a URL,
which may hold the subject's address.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from dsr.connectors.base import ConnectorError, PermanentConnectorError
from dsr.connectors.http_auth import Auth
from dsr.connectors.http_shapes import path_segments

BUSY = (429, 503)
MAX_HOPS = 5


@dataclass(frozen=True)
class Step:
    """One request, for `flask dsr systems check`: what it was for, its method, status and time."""

    what: str
    method: str
    status: int | None
    seconds: float
    note: str = ""


class Transport:
    def __init__(self, system: str, settings: Mapping[str, Any], base_url, auth: Auth | None,
                 connect_timeout: float, read_timeout: float):
        self.system, self.auth = system, auth
        self._base_url = base_url  # a callable: the environment may override the declared URL
        self.rate_interval = 1.0 / float(settings.get("rate_limit", 10))
        self.max_bytes = int(settings.get("max_response_bytes", 10_000_000))
        self.busy_retries = int(settings.get("busy_retries", 3))
        self.max_retry_after = float(settings.get("max_retry_after", 30))
        self.headers = {"Accept": "application/json", "User-Agent": "dsr-portal", **settings.get("headers", {})}
        self.timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=10.0, pool=10.0)
        self.slots = threading.BoundedSemaphore(int(settings.get("max_concurrency", 4)))
        self.trace: list[Step] | None = None  # set to a list to record every request
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._next_at = 0.0

    @property
    def base_url(self) -> str:
        return self._base_url()

    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(headers=self.headers, timeout=self.timeout, follow_redirects=False,
                                            trust_env=False)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def within_base(self, url: str) -> bool:
        base, target = urlsplit(self.base_url), urlsplit(url)
        same_origin = (target.scheme, target.hostname, target.port) == (base.scheme, base.hostname, base.port)
        base_segments, target_segments = path_segments(base.path), path_segments(target.path)
        if not same_origin or base_segments is None or target_segments is None:
            return False
        return target_segments[:len(base_segments)] == base_segments  # "/api/v1-admin" is not under "/api/v1"

    def pace(self) -> None:
        """Wait for our turn: the rate limit, and any pause a busy answer asked for."""
        with self._lock:
            wait = self._next_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._next_at = time.monotonic() + self.rate_interval

    def hold_off(self, seconds: float) -> None:
        with self._lock:
            self._next_at = max(self._next_at, time.monotonic() + seconds)

    # ------------------------------------------------------------------ requests

    def document(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                 what: str, accept: frozenset[int] = frozenset()) -> tuple[int, Any]:
        """(status, parsed JSON) of a request answered 200, or of a status in `accept` (body may be None)."""
        status, raw = self.send(method, url, params=params, body=body, what=what, accept=accept | {200})
        if status != 200 and not raw.strip():
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            if status != 200:
                return status, None
            raise ConnectorError(f"system {self.system} answered {what} with malformed JSON") from None

    def send(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
             what: str, accept: frozenset[int] | set[int]) -> tuple[int, bytes]:
        """One request to the system (redirects, busy answers and a refused token handled): the status and
        the capped body when the status is in `accept`; any other status raises."""
        if not self.within_base(url):
            raise PermanentConnectorError(f"system {self.system}: the {what} request would go outside its base "
                                          "URL; not sent")
        busy = hops = 0
        refreshed = False
        while True:
            status, headers, raw = self._exchange(method, url, params, body, what, accept)
            if status in (301, 302, 303, 307, 308) and method == "GET" and hops < MAX_HOPS:
                location = urljoin(url, headers.get("location", ""))
                if not self.within_base(location):
                    raise PermanentConnectorError(f"system {self.system} redirected the {what} request to another "
                                                  "host or outside its base URL; not followed")
                url, params, hops = location, None, hops + 1
                continue
            if status in (301, 302, 303, 307, 308) and method == "GET":
                raise PermanentConnectorError(f"system {self.system} redirected the {what} request too often")
            if status == 401 and self.auth is not None and self.auth.refreshable and not refreshed:
                self.auth.invalidate()  # expired or revoked early: one fresh token, once
                refreshed = True
                continue
            if status in BUSY and status not in accept:
                wait = self._busy_wait(status, headers, busy)
                if wait is not None:
                    busy += 1
                    self.hold_off(wait)
                    continue
            if status in accept:
                return status, raw
            self.check_status(status, what, headers)

    def _exchange(self, method, url, params, body, what, accept) -> tuple[int, httpx.Headers, bytes]:
        headers = self.auth.headers(self.token_fetch, self.base_url) if self.auth is not None else {}
        started = time.monotonic()
        status = None
        with self.slots:
            self.pace()
            try:
                with self.client().stream(method, url, params=params, json=body, headers=headers) as response:
                    status = response.status_code
                    raw = self._read_capped(response, what) if status in accept or status == 200 else b""
                    return status, response.headers, raw
            except httpx.TimeoutException as exc:
                raise ConnectorError(f"system {self.system} timed out on {what} ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise ConnectorError(f"system {self.system} unreachable on {what} ({type(exc).__name__})") from None
            finally:
                if self.trace is not None:
                    self.trace.append(Step(what, method, status, time.monotonic() - started))

    def _busy_wait(self, status: int, headers: httpx.Headers, busy: int) -> float | None:
        """Seconds to wait before asking again, or None: give up (the job retries later)."""
        asked = busy_seconds(headers)
        if busy >= self.busy_retries or (status == 503 and asked is None):
            return None
        wait = asked if asked is not None else float(2 ** busy)
        return wait if wait <= self.max_retry_after else None

    def check_status(self, status: int, what: str, headers: httpx.Headers | None = None) -> None:
        if status in (408, 429) or status >= 500:
            asked = busy_seconds(headers or {})
            later = f" (it asks to wait {asked:g} s)" if asked is not None else ""
            raise ConnectorError(f"system {self.system} answered {what} with HTTP {status}{later}")
        if status == 401:
            check = self.auth.check if self.auth is not None else "declare its auth"
            raise PermanentConnectorError(f"system {self.system} refused {what} with HTTP 401: our credentials were "
                                          f"not accepted ({check})")
        if status >= 400:
            raise PermanentConnectorError(f"system {self.system} refused {what} with HTTP {status}")
        raise PermanentConnectorError(f"system {self.system} answered {what} with unexpected HTTP {status}")

    def _read_capped(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise PermanentConnectorError(f"system {self.system} sent a {what} answer over the size cap")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise PermanentConnectorError(f"system {self.system} sent a {what} answer over the size cap")
        return bytes(body)

    def token_fetch(self, method: str, url: str, form: Mapping[str, str] | None, params: Mapping[str, str] | None,
                    what: str) -> tuple[int, Any]:
        """A token endpoint's answer (it may live on another host: declared, not taken from an answer)."""
        started = time.monotonic()
        status = None
        try:
            with self.client().stream(method, url, data=form, params=params) as response:
                status = response.status_code
                raw = self._read_capped(response, what)
        except httpx.TimeoutException as exc:
            raise ConnectorError(f"system {self.system} timed out on {what} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise ConnectorError(f"system {self.system} unreachable on {what} ({type(exc).__name__})") from None
        finally:
            if self.trace is not None:
                self.trace.append(Step(what, method, status, time.monotonic() - started))
        try:
            return status, json.loads(raw) if raw.strip() else None
        except ValueError:
            return status, None


def busy_seconds(headers: Mapping[str, str]) -> float | None:
    """How long a busy system asks us to wait: Retry-After, else the rate-limit reset some vendors send
    instead (X-RateLimit-Reset, a Unix time at Intercom; X-Rate-Limit-Reset, seconds at Tripletex)."""
    asked = retry_after(headers.get("retry-after"))
    if asked is not None:
        return asked
    for name in ("x-ratelimit-reset", "x-rate-limit-reset"):
        value = (headers.get(name) or "").strip()
        if value.isdigit():
            number = float(value)
            return max(0.0, number - time.time()) if number > 1e9 else number
    return None


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110 §10.2.3: a number of seconds or an HTTP date), None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
