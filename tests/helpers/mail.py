"""Mail and SMS in tests: a real SMTP server (aiosmtpd), and reading what the app wrote to its outbox
folder when no SMTP host is set (.eml files and sms.log): codes, links, recipients."""
from __future__ import annotations

import asyncio
import re
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests.helpers.jobs import free_port, wait_until


class _Collect:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope: Envelope, address: str, rcpt_options):
        self.sink.rcpt_seen.set()
        if self.sink.rcpt_delay:
            await asyncio.sleep(self.sink.rcpt_delay)  # a slow server: lets a test kill the sender mid-send
        if address in self.sink.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope):
        if self.sink.fail_next > 0:
            self.sink.fail_next -= 1
            return "451 4.3.0 try again later"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.sink.lock:
            self.sink.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


class SmtpSink:
    """aiosmtpd on a free port; `.messages` holds (recipients, EmailMessage)."""

    def __init__(self):
        self.host, self.port = "127.0.0.1", free_port()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: set[str] = set()
        self.fail_next = 0
        self.rcpt_delay = 0.0
        self.rcpt_seen = threading.Event()
        self.lock = threading.Lock()
        self.controller = Controller(_Collect(self), hostname=self.host, port=self.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [message for recipients, message in self.messages if address in recipients]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        return wait_until(lambda: len(self.to(address)) >= count and self.to(address), timeout,
                          message=f"{count} mail(s) to {address}")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def outbox_mails(app) -> list[EmailMessage]:
    """The .eml files the app wrote (no SMTP host), oldest first, parsed."""
    folder = Path(app.config["OUTBOX_DIR"])
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]


def mails_to(app, address: str) -> list[EmailMessage]:
    return [m for m in outbox_mails(app) if m["To"] == address]


def sms_lines(app) -> list[str]:
    path = Path(app.config["OUTBOX_DIR"]) / "sms.log"
    return path.read_text().splitlines() if path.exists() else []


def code_in(text: str) -> str:
    match = re.search(r"(?m)^\s*(\d{6})\s*$", text) or re.search(r"\b(\d{6})\b", text)
    assert match, f"no code in {text[:200]!r}"
    return match.group(1)


def link_in(text: str, kind: str = "verify") -> str:
    """The path of the first verification ("/verify/link/") or case ("/case/open/") link in a mail."""
    marker = {"verify": "/verify/link/", "case": "/case/open/"}[kind]
    match = re.search(r"https?://[^/\s]+(" + re.escape(marker) + r"[A-Za-z0-9_.\-]+)", text)
    assert match, f"no {kind} link in {text[:300]!r}"
    return match.group(1)
