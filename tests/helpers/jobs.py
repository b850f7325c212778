"""Running jobs in tests: an in-process RQ worker, worker subprocesses (started, stopped, killed), polling."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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
                "OUTBOX_SWEEP_SECONDS", "JOB_LEASE_SECONDS", "WORKER_BEACON_TTL", "WORKER_CLASS", "JOB_TIMEOUT", "CONNECTOR_MODULES",
                "STORAGE_URL", "S3_ENDPOINT_URL", "S3_REGION", "EXPORT_LEASE_SECONDS"):
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


def kill_family(root: int) -> None:
    """SIGKILL a process and all its descendants (RQ gives work horses their own session)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
    family, changed = {root}, True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in family and pid not in family:
                family.add(pid)
                changed = True
    for pid in family:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
