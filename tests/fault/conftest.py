"""Fault tests: private Redis and PostgreSQL servers (temp dirs, their own ports) that the tests
kill and restart. The machine's shared servers are never touched.

Marked `fault` by their folder (tests/conftest.py): they run in .ci/run's second pass (or with DSR_FAULT_TESTS=1). Each test states
what must not be lost and prints the figures it measured.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis as redis_lib
import sqlalchemy as sa

from dsr.queue.broker import redis_server_binary
from tests.helpers.jobs import free_port, wait_until
from tests.helpers.skips import skip_reason


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found

    return str(redis_server_binary())


class PrivateRedis:
    """A redis-server on its own TCP port; `kill()` is SIGKILL, `start()` brings it back (empty
    unless `appendonly`)."""

    def __init__(self, folder: Path, appendonly: bool = False):
        self.folder, self.appendonly, self.port = folder, appendonly, free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        command = [_redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                   "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
                   "--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", str(self.folder / "log")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis_lib.Redis.from_url(self.url, socket_timeout=0.5)
        wait_until(lambda: self._ping(client), timeout=10, message="private redis-server")
        client.close()
        return self

    @staticmethod
    def _ping(client) -> bool:
        try:
            return bool(client.ping())
        except (redis_lib.RedisError, OSError):
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a temp dir, its own port), run as the postgres
    user when the tests run as root. `kill()` is SIGKILL of the postmaster."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.data = folder / "data"
        self.bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def init(self) -> PrivatePostgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        subprocess.run(self._as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                                       "postgres", "--no-sync", "-E", "UTF8"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def start(self) -> PrivatePostgres:
        command = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.folder),
                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=60"]
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 (kept open for the server's life)
        self.process = subprocess.Popen(self._as_owner(command), stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_until(self.answers, timeout=30, message="private PostgreSQL")
        return self

    def answers(self) -> bool:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 1})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # postmaster and every backend
            self.process.wait(10)
        time.sleep(0.2)
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.folder.glob(".s.PGSQL.*"):  # the socket and its lock file outlive a SIGKILL
            lock.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # fast shutdown
            self.process.wait(30)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture
def private_postgres():
    if not Path("/usr/lib/postgresql").exists():
        pytest.skip(skip_reason("tool", "PostgreSQL server binaries are not installed"))
    # Not under pytest's tmp_path: that is 0700 root, and the server runs as the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="dsr-fault-pg-"))
    server = PrivatePostgres(folder).init().start()
    yield server
    server.kill()
    shutil.rmtree(folder, ignore_errors=True)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a worker and everything it forked (horses, the scheduler)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)
