"""The demo support-chat service: a real small JSON REST API (stdlib http.server) with bearer auth.

    python -m dsr.demo_systems.chat_server --port 5081      (token from DSR_DEMO_CHAT_TOKEN)

GET    /api/v1/customers?email=...                  -> {"data": [customer]}
GET    /api/v1/customers/<id>/conversations?page=N  -> {"data": [...], "next": "<url>" | null}
GET    /api/v1/conversations/<id>/messages          -> {"data": [...]}
DELETE /api/v1/customers/<id>                       -> 204: the customer, their conversations and messages
PATCH  /api/v1/customers/<id>   {"name": ..., ...}  -> 200 {customer}; only name, phone and email (else 400)
POST   /api/v1/customers/<id>/restrict              -> 200 {customer} with "restricted": true
POST   /api/v1/customers/<id>/unrestrict            -> 200 {customer} with "restricted": false
POST   /api/v1/customers/<id>/unsubscribe           -> 200 {customer} with "marketing_emails": false

A customer is {"id", "email", "name", "phone", "created_at", "restricted", "marketing_emails"}. An
unknown customer is 404 (so a second DELETE answers 404); repeating any other write changes nothing.
The data lives in the process's memory: a restart brings the generated data back.
Transcripts are kept 30 days: older conversations are never returned (they are deleted).
Tests may set `fail_next` (answer 500 that many times), `always_fail`, or `read_only` (writes answer
403, as for a token without write access) on the server object.
"""
from __future__ import annotations

import argparse
import hmac
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from dsr.demo_systems.people import people, rng_for

RETENTION_DAYS = 30
PAGE_SIZE = 2
MAX_BODY_BYTES = 65536
EDITABLE = ("name", "phone", "email")
FLAGS = {"restrict": ("restricted", True), "unrestrict": ("restricted", False),
         "unsubscribe": ("marketing_emails", False)}
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
                                   "created_at": f"{person.joined.isoformat()}T08:00:00Z", "restricted": False,
                                   "marketing_emails": person.in_newsletter}
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
        self.read_only = False
        self.write_delay = 0.0  # seconds a write waits before it is carried out (tests kill a worker meanwhile)
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

    def _send(self, status: int, body: dict | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _admit(self) -> list[str] | None:
        """Counts the request, checks the token and the failure switches, and returns the path's
        segments under /api/v1; None once an error has been answered."""
        server = self.server
        with server.lock:
            server.requests += 1
            failing = server.always_fail or server.fail_next > 0
            if server.fail_next > 0:
                server.fail_next -= 1
        expected = f"Bearer {server.token}".encode()
        if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected):
            self._send(401, {"error": "unauthorized"})
            return None
        if failing:
            self._send(500, {"error": "internal"})
            return None
        segments = [s for s in urlsplit(self.path).path.split("/") if s]
        if segments[:2] != ["api", "v1"]:
            self._send(404, {"error": "not found"})
            return None
        return segments[2:]

    def do_GET(self) -> None:
        segments = self._admit()
        if segments is not None:
            with self.server.lock:  # writes change the same dicts
                self._read(segments, parse_qs(urlsplit(self.path).query))

    def _read(self, segments: list[str], query: dict) -> None:
        server = self.server
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

    def do_DELETE(self) -> None:
        self._write(self._delete)

    def do_PATCH(self) -> None:
        self._write(self._patch)

    def do_POST(self) -> None:
        self._write(self._flag)

    def _write(self, handle) -> None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            return self._send(413, {"error": "body too large"})
        raw = self.rfile.read(int(length))
        segments = self._admit()
        if segments is None:
            return
        if self.server.read_only:
            return self._send(403, {"error": "forbidden"})
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            return self._send(400, {"error": "malformed JSON"})
        time.sleep(self.server.write_delay)
        with self.server.lock:
            handle(segments, body)

    def _customer(self, segments: list[str], length: int) -> dict | None:
        """The customer named by /customers/<id>[/...], or None once 404 has been answered."""
        if len(segments) == length and segments[0] == "customers":
            for customer in self.server.customers.values():
                if customer["id"] == segments[1]:
                    return customer
        self._send(404, {"error": "not found"})
        return None

    def _delete(self, segments: list[str], _body) -> None:
        customer = self._customer(segments, 2)
        if customer is None:
            return
        server = self.server
        del server.customers[customer["email"]]
        for conversation in server.conversations.pop(customer["id"], []):
            server.messages.pop(conversation["id"], None)
        self._send(204, None)

    def _patch(self, segments: list[str], body) -> None:
        customer = self._customer(segments, 2)
        if customer is None:
            return
        if not isinstance(body, dict) or not body or set(body) - set(EDITABLE):
            return self._send(400, {"error": f"only {', '.join(EDITABLE)} can be changed"})
        if not all(isinstance(value, str) and value.strip() for value in body.values()):
            return self._send(400, {"error": "values must be non-empty strings"})
        email = body.get("email", customer["email"]).strip().lower()
        if "@" not in email:
            return self._send(400, {"error": "not an e-mail address"})
        if email != customer["email"] and email in self.server.customers:
            return self._send(409, {"error": "another customer has that e-mail address"})
        del self.server.customers[customer["email"]]
        customer.update({key: value.strip() for key, value in body.items()}, email=email)
        self.server.customers[email] = customer
        self._send(200, customer)

    def _flag(self, segments: list[str], _body) -> None:
        flag = FLAGS.get(segments[2]) if len(segments) == 3 else None
        if flag is None:
            return self._send(404, {"error": "not found"})
        customer = self._customer(segments, 3)
        if customer is None:
            return
        customer[flag[0]] = flag[1]
        self._send(200, customer)


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
