"""The demo support-chat service: a real small JSON REST API (stdlib http.server) with bearer auth.

    python -m dsr.demo_systems.chat_server --port 5081      (token from DSR_DEMO_CHAT_TOKEN)

GET /api/v1/customers?email=...                  -> {"data": [customer]}
GET /api/v1/customers/<id>/conversations?page=N  -> {"data": [...], "next": "<url>" | null}
GET /api/v1/conversations/<id>/messages          -> {"data": [...]}

Transcripts are kept 30 days: older conversations are never returned (they are deleted).
Tests may set `fail_next` (answer 500 that many times) or `always_fail` on the server object.
"""
from __future__ import annotations

import argparse
import hmac
import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from dsr.demo_systems.people import people, rng_for

RETENTION_DAYS = 30
PAGE_SIZE = 2
TOKEN_VARIABLE = "DSR_DEMO_CHAT_TOKEN"
CUSTOMER_LINES = ("Hei! Jeg lurer på når fakturaen forfaller.", "Kan jeg endre e-postadressen min?",
                  "Hvordan melder jeg meg på kurset?", "Jeg fikk ikke bekreftelsen på påmeldingen.",
                  "Takk for raskt svar!")
AGENT_LINES = ("Hei, takk for at du tok kontakt! Jeg sjekker det nå.", "Det er ordnet. Noe mer jeg kan hjelpe med?",
               "Du finner dette under Min side.", "Jeg har sendt bekreftelsen på nytt.")


def build_data(now: datetime) -> tuple[dict, dict, dict]:
    """Customers by e-mail, conversations by customer id, messages by conversation id (60 days generated,
    only the last 30 kept: the retention rule)."""
    customers, conversations, messages = {}, {}, {}
    now = now.replace(hour=0, minute=0, second=0, microsecond=0)  # the same data all day: bundles reproduce
    cutoff = now - timedelta(days=RETENTION_DAYS)
    for person in people():
        if not person.in_chat:
            continue
        rng = rng_for("chat", person.id)
        customer_id = f"cus_{person.id:04d}"
        customers[person.email] = {"id": customer_id, "email": person.email,
                                   "name": f"{person.first_name} {person.last_name}", "phone": person.phone,
                                   "created_at": f"{person.joined.isoformat()}T08:00:00Z"}
        kept = []
        for n in range(rng.randint(1, 5) + (2 if person.id == 1 else 0)):
            started = (now - timedelta(days=rng.randint(0, 59), minutes=rng.randint(0, 600))).replace(microsecond=0)
            if person.id == 1 and n < 3:
                started = (now - timedelta(days=n + 1)).replace(microsecond=0)
            conversation_id = f"conv_{person.id:04d}_{n}"
            if started < cutoff:
                continue  # deleted under the 30-day retention rule
            kept.append({"id": conversation_id, "customer_id": customer_id, "channel": "web_chat",
                         "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "satisfaction_rating": rng.choice((None, 4, 5)), "topic": rng.choice(("billing", "account",
                                                                                               "courses"))})
            lines = []
            for m in range(rng.randint(2, 4)):
                customer_turn = m % 2 == 0
                lines.append({"id": f"{conversation_id}_m{m}", "conversation_id": conversation_id,
                              "author": "customer" if customer_turn else "agent",
                              "agent_name": None if customer_turn else rng.choice(("Mona", "Petter")),
                              "sent_at": (started + timedelta(minutes=2 * m)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "text": rng.choice(CUSTOMER_LINES if customer_turn else AGENT_LINES)})
            messages[conversation_id] = lines
        kept.sort(key=lambda c: c["started_at"], reverse=True)
        conversations[customer_id] = kept
    return customers, conversations, messages


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], token: str, now: datetime | None = None):
        super().__init__(address, _Handler)
        self.token = token
        self.customers, self.conversations, self.messages = build_data(now or datetime.now(UTC))
        self.fail_next = 0
        self.always_fail = False
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}/api/v1"


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.requests += 1
            failing = server.always_fail or server.fail_next > 0
            if server.fail_next > 0:
                server.fail_next -= 1
        expected = f"Bearer {server.token}".encode()
        if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected):
            return self._send(401, {"error": "unauthorized"})
        if failing:
            return self._send(500, {"error": "internal"})
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        segments = [s for s in parts.path.split("/") if s]
        if segments[:2] != ["api", "v1"]:
            return self._send(404, {"error": "not found"})
        segments = segments[2:]
        if segments == ["customers"]:
            email = (query.get("email") or [""])[0].strip().lower()
            found = server.customers.get(email)
            return self._send(200, {"data": [found] if found else []})
        if len(segments) == 3 and segments[0] == "customers" and segments[2] == "conversations":
            items = server.conversations.get(segments[1])
            if items is None:
                return self._send(404, {"error": "not found"})
            page = max(1, int((query.get("page") or ["1"])[0]) if (query.get("page") or ["1"])[0].isdigit() else 1)
            chunk = items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
            more = page * PAGE_SIZE < len(items)
            following = f"/api/v1/customers/{segments[1]}/conversations?page={page + 1}" if more else None
            return self._send(200, {"data": chunk, "next": following})
        if len(segments) == 3 and segments[0] == "conversations" and segments[2] == "messages":
            items = server.messages.get(segments[1])
            if items is None:
                return self._send(404, {"error": "not found"})
            return self._send(200, {"data": items})
        return self._send(404, {"error": "not found"})


def start_in_thread(token: str, host: str = "127.0.0.1", port: int = 0) -> ChatServer:
    server = ChatServer((host, port), token)
    threading.Thread(target=server.serve_forever, name="demo-chat", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5081)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        print(f"{TOKEN_VARIABLE} is not set", file=sys.stderr)
        return 2
    server = ChatServer((args.host, args.port), token)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"demo chat API on {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
