"""The http kind treats every answer as untrusted: malformed JSON, oversize bodies, redirects off the base
host, wrong shapes and slow servers end in a ConnectorError safe to show staff (S24, F11)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dsr.connectors.base import ConnectorContext, ConnectorError, Facts, Identity, PermanentConnectorError
from dsr.connectors.http import HttpConnector

FACTS = Facts(purposes=("x",), legal_basis="x", categories=("x",), recipients=("x",), retention="x", source="x")


class Fake(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.seen: list[tuple[str, str]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"

    def json(self, path: str, body, status: int = 200, headers: dict | None = None) -> None:
        self.routes[path] = (status, headers or {}, json.dumps(body).encode())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        path = self.path.split("?")[0]
        status, headers, body = self.server.routes.get(path, (404, {}, b"{}"))
        if headers.get("X-Sleep"):
            time.sleep(float(headers["X-Sleep"]))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if body == b"HUGE":
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                for _ in range(50):
                    self.wfile.write(b" " * 1_000_000)
            except OSError:
                pass
            return
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake():
    server = Fake()
    yield server
    server.shutdown()
    server.server_close()


def connector(base: str, tmp_path: Path, environ=None, **overrides) -> HttpConnector:
    settings = {
        "base_url": base, "auth_header": "Authorization", "auth_env": "CHAT_TOKEN", "auth_scheme": "Bearer",
        "rate_limit": 1000, "read_timeout": 1, "max_response_bytes": 1_000_000,
        "locate": {"path": "/people", "params": {"email": "{email}"}, "items": "data", "key": "id",
                   "phone_field": "phone"},
        "collections": [{"name": "tickets", "path": "/people/{key}/tickets", "items": "data",
                         "pagination": "next_url", "next_field": "next", "fields": {"body": "provided"}}],
        **overrides,
    }
    HttpConnector.validate(settings)
    context = ConnectorContext(instance_path=tmp_path, storage_dir=tmp_path,
                               environ=environ if environ is not None else {"CHAT_TOKEN": "s3cret"})
    return HttpConnector("chat", "Chat", FACTS, settings, context)


def test_locate_and_paginated_export_with_the_auth_header_from_the_environment(fake, tmp_path):
    fake.json("/api/people", {"data": [{"id": 7, "email": "Ola@Example.no", "phone": "912 34 567"},
                                       {"id": 8, "email": "someone.else@example.no"}]})
    fake.json("/api/people/7/tickets", {"data": [{"id": 1, "body": "Hei"}], "next": "/api/people/7/tickets2"})
    fake.json("/api/people/7/tickets2", {"data": [{"id": 2, "body": "Takk"}], "next": None})
    chat = connector(fake.base, tmp_path)
    ref = chat.locate(Identity(email="ola@example.no"))
    assert ref.keys == {"key": [7]} and ref.phones == ["+4791234567"]
    records = list(chat.export(ref))
    assert [r.data["body"] for r in records] == ["Hei", "Takk"]
    assert records[0].origins["body"] == "provided" and records[0].origins["id"] == "observed"
    assert {auth for _path, auth in fake.seen} == {"Bearer s3cret"}


@pytest.mark.parametrize(("route", "message", "permanent"), [
    ((200, {}, b"{not json"), "malformed JSON", False),
    ((200, {}, b"HUGE"), "over the size cap", True),
    ((200, {"Content-Length": "52428800"}, b""), "over the size cap", True),
    ((302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""), "another host", True),
    ((500, {}, b"{}"), "HTTP 500", False),
    ((429, {"Retry-After": "3"}, b"{}"), "HTTP 429", False),
    ((401, {}, b"{}"), "refused lookup with HTTP 401", True),
    ((200, {}, b'{"data": {"id": 1}}'), "unexpected shape", True),
    ((200, {"X-Sleep": "2"}, b'{"data": []}'), "timed out", False),
])
def test_untrusted_answers_are_rejected_with_a_message_safe_for_staff(fake, tmp_path, route, message, permanent):
    fake.routes["/api/people"] = route
    with pytest.raises(ConnectorError, match=message) as caught:
        connector(fake.base, tmp_path).locate(Identity(email="ola@example.no"))
    assert isinstance(caught.value, PermanentConnectorError) is permanent
    assert "ola@example.no" not in str(caught.value) and "/api" not in str(caught.value)
    assert not any("169.254" in path for path, _ in fake.seen)


def test_redirects_are_followed_only_within_the_base_url(fake, tmp_path):
    fake.routes["/api/people"] = (301, {"Location": "/api/v2/people"}, b"")
    fake.json("/api/v2/people", {"data": []})
    assert not connector(fake.base, tmp_path).locate(Identity(email="ola@example.no")).found
    fake.routes["/api/people"] = (302, {"Location": "/admin/people"}, b"")
    with pytest.raises(PermanentConnectorError, match="another host"):
        connector(fake.base, tmp_path).locate(Identity(email="ola@example.no"))


def test_a_next_page_off_the_base_host_is_not_followed(fake, tmp_path):
    fake.json("/api/people", {"data": [{"id": 7, "email": "ola@example.no"}]})
    fake.json("/api/people/7/tickets", {"data": [], "next": "http://example.org/steal"})
    chat = connector(fake.base, tmp_path)
    with pytest.raises(PermanentConnectorError, match="another host"):
        list(chat.export(chat.locate(Identity(email="ola@example.no"))))


def test_a_key_that_could_change_the_path_is_refused(fake, tmp_path):
    fake.json("/api/people", {"data": [{"id": "../admin", "email": "ola@example.no"}]})
    with pytest.raises(PermanentConnectorError, match="usable key"):
        connector(fake.base, tmp_path).locate(Identity(email="ola@example.no"))


def test_a_missing_credential_is_a_clear_permanent_error(fake, tmp_path):
    with pytest.raises(PermanentConnectorError, match="CHAT_TOKEN"):
        connector(fake.base, tmp_path, environ={}).locate(Identity(email="ola@example.no"))


def test_requests_are_paced_by_the_rate_limit(fake, tmp_path):
    fake.json("/api/people", {"data": []})
    chat = connector(fake.base, tmp_path, rate_limit=20)
    started = time.monotonic()
    for _ in range(5):
        chat.locate(Identity(email="ola@example.no"))
    assert time.monotonic() - started >= 4 / 20
