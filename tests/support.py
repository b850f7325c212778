"""Real parts for tests: an SMTP server, an in-process RQ worker, a worker subprocess, polling."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from dsr import REPO_ROOT
from dsr.queue import broker
from dsr.queue.jobs import use_app
from dsr.queue.outbox import get_queue
from dsr.queue.registry import ALL_QUEUES
from dsr.queue.sweep import sweep_outbox
from dsr.queue.worker import Beacon, build_worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


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


def run_jobs(app, max_rounds: int = 20) -> None:
    """Run every queued job in this process with a real RQ worker (burst), sweeping between rounds
    so delayed and left-over outbox rows are published too."""
    use_app(app)
    connection = broker.worker_connection(app)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(max_rounds):
            with app.app_context():
                sweep_outbox(app, connection)
            queued = sum(get_queue(app, q, connection).count for q in ALL_QUEUES)
            if not queued:
                return
            worker = build_worker(app, connection)
            beacon = Beacon(app, connection, worker.name)  # a concurrent sweep must not think it dead
            beacon.start()
            try:
                worker.work(burst=True, logging_level="WARNING")
            finally:
                beacon.stop()
    finally:
        connection.close()
        for signum, handler in handlers.items():  # RQ's worker installs its own and never restores them
            signal.signal(signum, handler)


def worker_env(app) -> dict[str, str]:
    """Environment for a `flask dsr worker` subprocess that sees the same database, Redis and keys."""
    config = app.config
    env = {**os.environ, "DSR_INSTANCE_PATH": app.instance_path, "PYTHONUNBUFFERED": "1"}
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ENCRYPTION_KEY", "SIGNING_KEY", "AUDIT_KEY", "BASE_URL",
                "SMTP_HOST", "SMTP_PORT", "OUTBOX_DIR", "STORAGE_DIR", "SYSTEMS_FILE", "QUEUE_PREFIX",
                "OUTBOX_SWEEP_SECONDS", "JOB_LEASE_SECONDS", "WORKER_BEACON_TTL", "WORKER_CLASS", "JOB_TIMEOUT", "CONNECTOR_MODULES"):
        if config.get(key) is not None:
            env[f"DSR_{key}"] = str(config[key])
    env["DSR_JOB_RETRY_INTERVALS"] = " ".join(str(i) for i in config["JOB_RETRY_INTERVALS"])
    env["DSR_REDIS_RETRY_AFTER"] = str(config["REDIS_RETRY_AFTER"])
    return env


def spawn_worker(app, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 (closed by the caller's process lifetime)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "dsr", "worker"], cwd=REPO_ROOT,
                            env=worker_env(app), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Warm shutdown (SIGTERM: the running job finishes), then SIGKILL whatever of its process group is
    left — RQ's scheduler child and work horses do not die with their parent on their own."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # spawn_worker starts a new session: pgid == pid
    except ProcessLookupError:
        pass
    process.wait(10)
