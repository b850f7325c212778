"""The browser side of bench/load.py: a small HTTP/1.1 client with a cookie jar, the forms of a page,
and a latency log shared by many threads.

Standard library only (http.client): the client shares the machine's two cores with the server it
measures, so it must cost little per request (httpx costs several times more CPU per request). Each
simulated browser keeps one keep-alive connection, its own cookies, and a timeout on every request.
"""
from __future__ import annotations

import http.client
import math
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def location(self) -> str:
        """The redirect's target as a path on the same host."""
        target = urlsplit(self.headers.get("Location", ""))
        return target.path + (f"?{target.query}" if target.query else "")


class TransportError(Exception):
    """No HTTP answer: refused, reset, or no answer within the timeout."""


@dataclass
class Latencies:
    """Every request's time and status, from many threads; the figures a phase prints."""

    seconds: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    by_page: dict[str, list[float]] = field(default_factory=dict)  # "POST /request/access": seconds
    transport_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, elapsed: float, status: int, page: str = "") -> None:
        with self.lock:
            self.seconds.append(elapsed)
            self.statuses.append(status)
            self.by_page.setdefault(page, []).append(elapsed)

    def failed(self) -> None:
        with self.lock:
            self.transport_errors += 1

    @property
    def errors_5xx(self) -> int:
        return sum(1 for status in self.statuses if status >= 500)

    def percentile_ms(self, fraction: float) -> float:
        """The nearest-rank percentile: at least `fraction` of the requests took no longer."""
        return _percentile(self.seconds, fraction) * 1000 if self.seconds else float("nan")

    def summary(self) -> str:
        counts = statistics.multimode(self.statuses) if self.statuses else []
        pages = ", ".join(f"{page} p50 {_percentile(times, 0.5) * 1000:.0f} p99 {_percentile(times, 0.99) * 1000:.0f}"
                          for page, times in sorted(self.by_page.items()))
        return (f"{len(self.seconds)} answers, most common status {counts}, {self.transport_errors} without "
                f"answer; ms by page: {pages}")


def _percentile(seconds: list[float], fraction: float) -> float:
    ordered = sorted(seconds)
    return ordered[max(1, min(len(ordered), math.ceil(fraction * len(ordered)))) - 1]  # nearest rank


#: a public id or token in a path (16 random bytes and more), shown as <id> so pages group
_ID_SEGMENT = re.compile(r"/[A-Za-z0-9_.-]{20,}")


def take_cookie(jar: dict[str, str], set_cookie: str) -> None:
    """What a browser does with one Set-Cookie header: keep the cookie, or drop it when it has expired."""
    name, _, rest = set_cookie.partition("=")
    lowered = set_cookie.lower()
    if "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered:
        jar.pop(name.strip(), None)
    else:
        jar[name.strip()] = rest.split(";", 1)[0]


def page_label(method: str, path: str) -> str:
    """The request as the per-page figures group it: "GET /case/<id>"."""
    return f"{method} {_ID_SEGMENT.sub('/<id>', path.split('?', 1)[0])}"


class Browser:
    """One visitor: a keep-alive connection to the portal, its cookies, every request timed into `latencies`."""

    def __init__(self, host: str, port: int, latencies: Latencies, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.latencies = latencies
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def get(self, path: str) -> Answer:
        return self._request("GET", path)

    def post(self, path: str, form: Iterable[tuple[str, str]] | dict[str, str]) -> Answer:
        return self._request("POST", path, urlencode(list(form.items()) if isinstance(form, dict) else list(form)))

    def follow(self, answer: Answer) -> Answer:
        """What the browser shows after a 302/303: the redirect's target, fetched with GET."""
        return self.get(answer.location) if answer.status in (301, 302, 303) else answer

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _request(self, method: str, path: str, body: str | None = None) -> Answer:
        headers = {"Accept": "text/html", "Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            answer = self._send(method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self.latencies.failed()
            raise TransportError(f"{method} {path}: {exc!r}") from exc
        self.latencies.add(time.perf_counter() - started, answer.status,
                           page_label(method, path))
        for value in answer.headers.get_all("Set-Cookie") or ():
            take_cookie(self.cookies, value)
        return answer

    def _send(self, method: str, path: str, body: str | None, headers: dict[str, str]) -> Answer:
        # A kept-alive connection the server closed meanwhile fails on first use: one fresh retry then.
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            reused = attempt == 1 and self.connection.sock is not None
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                payload = response.read().decode("utf-8", "replace")
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self.close()
                if not reused:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return Answer(response.status, response.headers, payload)
        raise AssertionError("unreachable")


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]]  # the inputs a browser sends as they are (hidden ones and prefilled)

    def filled(self, **answers: str) -> list[tuple[str, str]]:
        """The form's own fields with the visitor's answers in place of (or beside) them."""
        kept = [(name, value) for name, value in self.fields if name not in answers]
        return kept + list(answers.items())


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attributes.get("action", ""), attributes.get("method", "get").lower(), []))
        elif tag == "input" and self.forms and attributes.get("name"):
            kind = attributes.get("type", "text").lower()
            if kind in ("radio", "checkbox") and "checked" not in attributes:
                return  # an unchecked choice is not sent
            if kind not in ("submit", "button", "file"):
                self.forms[-1].fields.append((attributes["name"], attributes.get("value", "")))


_FORM = re.compile(r"<form\b.*?</form>", re.IGNORECASE | re.DOTALL)


def forms_of(page: str) -> list[Form]:
    """The page's forms; only their own markup is parsed (the client shares the cores it measures)."""
    parser = _FormParser()
    for form in _FORM.finditer(page):
        parser.feed(form.group(0))
    return parser.forms


def form_posting_to(page: str, action: str) -> Form:
    """The page's POST form whose action's path matches the regular expression `action` (whole)."""
    for form in forms_of(page):
        if form.method == "post" and re.fullmatch(action, urlsplit(form.action).path):
            return form
    raise LookupError(f"no form posting to {action} on the page")


def run_bounded(jobs: list[Callable[[], None]], concurrency: int, deadline: float) -> tuple[int, int, float]:
    """Run `jobs` on `concurrency` threads; a job not started before `deadline` (time.monotonic) is
    skipped. Returns (jobs done, jobs that raised, wall seconds)."""
    done = failed = 0
    lock = threading.Lock()
    shown = 5  # the first few failures go to stderr; the rest only count

    def run(job: Callable[[], None]) -> None:
        nonlocal done, failed, shown
        if time.monotonic() > deadline:
            return
        try:
            job()
            problem = None
        except (TransportError, RuntimeError, LookupError, TimeoutError) as exc:  # counted; the phase goes on
            problem = exc
        with lock:
            if problem is None:
                done += 1
                return
            failed += 1
            if shown:
                shown -= 1
                print(f"failed: {problem}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(run, jobs))
    return done, failed, time.perf_counter() - started
