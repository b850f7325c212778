"""Many browsers fetching pages at once, from one thread: the case-page phase of bench/load.py.

Two hundred browsers on two hundred client threads cost the two cores they share with the portal about
0.4 ms of CPU per page (http.client's header parsing, thread switches): a tenth of what the portal
itself spends. Here one thread drives every browser's socket through the operating system's readiness
events (selectors), so the client costs little and notes each answer's time as soon as it arrives.

Each browser sends its own cookies, takes the ones the portal sets, keeps its connection alive where
the server does (and opens a new one where the server closes it, as sync workers do), and has a
timeout on every request. What a browser does is the same as `Browser.get` in a loop.
"""
from __future__ import annotations

import errno
import selectors
import socket
import time
from dataclasses import dataclass, field

from bench._load_client import Latencies, page_label, take_cookie

_HEAD_END = b"\r\n\r\n"
_TIMEOUT_CHECK_S = 0.1  # how often the requests' timeouts are looked at


class CrowdError(Exception):
    """A browser of the crowd stopped: no answer, a broken answer, or not the status it expected."""


@dataclass
class CrowdBrowser:
    """One browser of the crowd: the page it follows, how many times, and its cookie jar."""

    path: str
    views: int
    cookies: dict[str, str]
    sock: socket.socket | None = None
    reused: bool = False  # this request went out on a kept-alive connection
    retried: bool = False
    started: float = 0.0
    received: bytearray = field(default_factory=bytearray)
    done_views: int = 0
    problem: str | None = None

    def request_bytes(self, host: str) -> bytes:
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {host}", "Accept: text/html", "Accept-Language: en"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{name}={value}" for name, value in self.cookies.items()))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class _Answer:
    status: int
    keep_alive: bool


def _parse(received: bytearray, browser: CrowdBrowser, at_eof: bool) -> _Answer | None:
    """The answer once it is complete (None while more bytes are due); takes its cookies into the jar."""
    head_end = received.find(_HEAD_END)
    if head_end < 0:
        if at_eof:
            raise CrowdError("the connection closed inside the answer's headers")
        return None
    head = bytes(received[:head_end]).decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise CrowdError(f"not an HTTP answer: {head[0][:80]!r}") from None
    length = None
    keep_alive = head[0].startswith("HTTP/1.1")
    for line in head[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            if not value.isdigit():
                raise CrowdError(f"Content-Length {value[:20]!r} is not a number")
            length = int(value)
        elif name == "connection":
            keep_alive = value.lower() != "close"
        elif name == "transfer-encoding" and value.lower() != "identity":
            raise CrowdError(f"transfer-encoding {value} is not read by this client")
        elif name == "set-cookie":
            take_cookie(browser.cookies, value)
    body = len(received) - head_end - len(_HEAD_END)
    if length is None:  # the body runs to the end of the connection
        return _Answer(status, False) if at_eof else None
    if body < length:
        if at_eof:
            raise CrowdError(f"the connection closed after {body} of {length} body bytes")
        return None
    return _Answer(status, keep_alive)


class Crowd:
    """Drives `browsers` against host:port until each has made its views, failed, or met the deadline
    (a request not begun by then is not begun)."""

    def __init__(self, host: str, port: int, latencies: Latencies, timeout: float, expected_status: int = 200):
        self.host, self.port, self.timeout = host, port, timeout
        self.latencies = latencies
        self.expected_status = expected_status
        self.selector: selectors.BaseSelector  # made by each run, for that run's sockets

    def run(self, browsers: list[CrowdBrowser], deadline: float) -> tuple[int, int, float]:
        """Returns (browsers done, browsers failed, wall seconds), as run_bounded does."""
        self.selector = selectors.DefaultSelector()
        started = time.perf_counter()
        active = 0
        for browser in browsers:
            if self._begin(browser, deadline):
                active += 1
        checked = time.perf_counter()
        while active:
            for key, mask in self.selector.select(_TIMEOUT_CHECK_S):
                browser: CrowdBrowser = key.data
                if not self._advance(browser, mask, deadline):
                    active -= 1
            now = time.perf_counter()
            if now - checked < _TIMEOUT_CHECK_S:
                continue  # looking at every browser after each event would cost more than the requests
            checked = now
            for browser in browsers:
                if browser.sock is not None and now - browser.started > self.timeout:
                    self._stop(browser, f"GET {browser.path}: no answer within {self.timeout:g} s")
                    active -= 1
        self.selector.close()
        failed = sum(1 for b in browsers if b.problem)
        done = sum(1 for b in browsers if not b.problem and b.done_views == b.views)
        return done, failed, time.perf_counter() - started

    def _begin(self, browser: CrowdBrowser, deadline: float) -> bool:
        """Starts the browser's next request; False when it has no more to make."""
        if browser.done_views >= browser.views or time.monotonic() > deadline:
            self._close(browser)
            return False
        browser.received.clear()
        browser.started = time.perf_counter()
        browser.reused = browser.sock is not None
        if browser.sock is None:
            try:
                self._connect(browser)
            except OSError as exc:
                return self._stop(browser, f"GET {browser.path}: connect: {exc!r}")
        else:
            self.selector.modify(browser.sock, selectors.EVENT_WRITE, browser)
        return True

    def _connect(self, browser: CrowdBrowser) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((self.host, self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(code, errno.errorcode.get(code, "connect failed"))
        browser.sock = sock
        self.selector.register(sock, selectors.EVENT_WRITE, browser)

    def _advance(self, browser: CrowdBrowser, mask: int, deadline: float) -> bool:
        """One readiness event of the browser's socket; False when the browser has stopped."""
        sock = browser.sock
        assert sock is not None
        try:
            if mask & selectors.EVENT_WRITE:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, errno.errorcode.get(error, "connect failed"))
                sock.sendall(browser.request_bytes(self.host))  # a few hundred bytes: the buffer takes them
                self.selector.modify(sock, selectors.EVENT_READ, browser)
                return True
            chunk = sock.recv(262144)
            browser.received += chunk
            answer = _parse(browser.received, browser, at_eof=not chunk)
        except (OSError, CrowdError) as exc:
            if browser.reused and not browser.retried and not browser.received:
                # a kept-alive connection the server closed meanwhile: one fresh retry, as browsers do
                browser.retried = True
                self._close(browser)
                return self._begin(browser, deadline)
            return self._stop(browser, f"GET {browser.path}: {exc!r}")
        if answer is None:
            return True
        page = page_label("GET", browser.path)
        self.latencies.add(time.perf_counter() - browser.started, answer.status, page)
        browser.done_views += 1
        browser.retried = False
        if answer.status != self.expected_status:
            browser.problem = f"{page} answered {answer.status}"
            self._close(browser)
            return False
        if not answer.keep_alive or not chunk:
            self._close(browser)
        return self._begin(browser, deadline)

    def _stop(self, browser: CrowdBrowser, problem: str) -> bool:
        self.latencies.failed()
        browser.problem = problem
        self._close(browser)
        return False

    def _close(self, browser: CrowdBrowser) -> None:
        if browser.sock is not None:
            try:
                self.selector.unregister(browser.sock)
            except (KeyError, ValueError):
                pass
            browser.sock.close()
            browser.sock = None
