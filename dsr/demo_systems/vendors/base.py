"""What every vendor stand-in shares: a threaded stdlib HTTP server answering JSON, a request log for the
tests, switches that make it busy (429, 503) or expire its tokens, and the demo people it holds.

A subclass names its base path (`prefix`), seeds its data, checks credentials in its own way, writes
errors in its vendor's shape, and routes requests under the prefix (`handle`); requests outside it (a
token endpoint on another host, in real life) go to `handle_outside`.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from dsr.demo_systems.people import KARI, Person, people

MAX_BODY_BYTES = 65536
#: a test identity of the controller's own in every stand-in: what the nightly canary looks up
CANARY = "canary@fjordnett.example"
#: the people each stand-in holds: Kari and a few dozen others (enough to page through)
PEOPLE_HELD = 40


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query
    segments: list[str]  # under the server's prefix
    query: dict[str, str]
    body: Any  # parsed JSON, a form (dict), or None
    headers: Any


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Tokens:
    """Access tokens a stand-in issued, each valid until its expiry (monotonic seconds)."""

    def __init__(self, lifetime: float = 3600):
        self.lifetime = lifetime
        self.issued: dict[str, float] = {}

    def issue(self) -> tuple[str, float]:
        token = secrets.token_urlsafe(24)
        self.issued[token] = time.monotonic() + self.lifetime
        return token, self.lifetime

    def valid(self, token: str | None) -> bool:
        return token is not None and self.issued.get(token, 0) > time.monotonic()

    def expire_all(self) -> None:
        """Every token issued so far stops working now, before the lifetime it was given."""
        self.issued = dict.fromkeys(self.issued, 0.0)


class VendorServer(ThreadingHTTPServer, ABC):
    daemon_threads = True
    name: ClassVar[str] = "vendor"
    prefix: ClassVar[str] = ""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.lock = threading.RLock()
        self.calls: list[tuple[str, str]] = []  # (method, path): what the tests look at
        self.throttle = 0  # the next requests answered 429, this many
        self.unavailable = 0  # the next requests answered 503 with Retry-After, this many
        self.retry_after = 1  # seconds a busy answer asks for
        self.tokens = Tokens()
        self.seed()

    @property
    def origin(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + self.prefix

    def people(self) -> list[Person]:
        return people()[:PEOPLE_HELD]

    # ------------------------------------------------------------------ a vendor's own parts

    @abstractmethod
    def seed(self) -> None: ...

    @abstractmethod
    def authorized(self, request: Request) -> bool: ...

    def error(self, status: int, message: str) -> Any:
        return {"error": message}

    def busy_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    @abstractmethod
    def handle(self, request: Request) -> Answer: ...

    def handle_outside(self, request: Request) -> Answer | None:
        return None

    # ------------------------------------------------------------------ helpers for subclasses

    def not_found(self, message: str = "Not found") -> Answer:
        return Answer(404, self.error(404, message))

    def json_page(self, items: list, offset: int, limit: int) -> tuple[list, bool]:
        """One page of a list and whether more follow."""
        return items[offset:offset + limit], offset + limit < len(items)

    def dispatch(self, request: Request) -> Answer:
        with self.lock:
            self.calls.append((request.method, request.path))
            outside = self.handle_outside(request)
            if outside is not None:
                return outside
            if self.throttle > 0:
                self.throttle -= 1
                return Answer(429, self.error(429, "Too many requests"), self.busy_headers())
            if self.unavailable > 0:
                self.unavailable -= 1
                return Answer(503, self.error(503, "Service unavailable"), {"Retry-After": str(self.retry_after)})
            if not self.authorized(request):
                return Answer(401, self.error(401, "Unauthorized"))
            if not (request.path + "/").startswith(self.prefix + "/"):
                return self.not_found()
            return self.handle(request)


def bearer(request: Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def demo_people_with(server: VendorServer, flag: str) -> list[Person]:
    """The held people with `flag` (in_crm, in_chat, ...), Kari first."""
    found = [person for person in server.people() if getattr(person, flag)]
    return sorted(found, key=lambda person: person.email != KARI)


class _Handler(BaseHTTPRequestHandler):
    server: VendorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            return self._send(Answer(413, {"error": "body too large"}))
        raw = self.rfile.read(int(length))
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        body: Any = None
        if raw.strip():
            if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._send(Answer(400, self.server.error(400, "malformed JSON")))
        prefix = self.server.prefix
        under = path[len(prefix):] if (path + "/").startswith(prefix + "/") else path
        request = Request(self.command, path, [s for s in under.split("/") if s],
                          {k: v[0] for k, v in parse_qs(parts.query).items()}, body, self.headers)
        self._send(self.server.dispatch(request))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _send(self, answer: Answer) -> None:
        data = json.dumps(answer.body).encode() if answer.body is not None else b""
        self.send_response(answer.status)
        if answer.body is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start(server: VendorServer) -> VendorServer:
    threading.Thread(target=server.serve_forever, name=f"stand-in-{server.name}", daemon=True).start()
    return server


def stop(server: VendorServer) -> None:
    server.shutdown()
    server.server_close()
