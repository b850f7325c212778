"""The run command's process supervisor: embedded Redis, demo systems, one worker, the web server.

Children run in their own sessions (so Ctrl-C reaches only us and we stop them in order)
and get PR_SET_PDEATHSIG (so even a SIGKILL of this process leaves nothing behind).
A child that dies unexpectedly is restarted.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from dsr.config import REPO_ROOT
from dsr.queue.broker import EmbeddedRedis, die_with_parent

log = logging.getLogger(__name__)


def lower_cpu_priority(pid: int, nice: int) -> None:
    """Give a process (and what it forks later) `nice`. A niceness ranks processes only within one
    scheduling group: where the kernel groups each session (autogroup), as it does for this child started
    in a session of its own, the group's niceness is set too (its owner may raise it)."""
    os.setpriority(os.PRIO_PROCESS, pid, nice)
    try:
        with open(f"/proc/{pid}/autogroup", "w") as autogroup:
            autogroup.write(str(nice))
    except OSError:  # no autogroups here (or not Linux): the process niceness is what counts
        pass


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    nice: int = 0  # background work yields the CPU to the pages

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=REPO_ROOT, env={**os.environ, **self.env},
                                        start_new_session=True, preexec_fn=die_with_parent)
        self.started_at = time.monotonic()
        if self.nice:
            lower_cpu_priority(self.process.pid, self.nice)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)  # the child and everything it forked (horses, scheduler)
        except ProcessLookupError:
            pass


class Supervisor:
    def __init__(self, children: list[Child], embedded_redis: EmbeddedRedis | None = None,
                 stop_timeout: float = 10.0):
        self.children = children
        self.redis = embedded_redis
        self.stop_timeout = stop_timeout
        self.stopping = False

    def run(self, on_ready=None) -> int:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        try:
            if self.redis:
                self.redis.start()
            for child in self.children:
                child.start()
            if on_ready:
                on_ready(self)
            while not self.stopping:
                if self.redis and not self.redis.answers() and not self.stopping:
                    log.warning("embedded redis-server stopped answering; restarting it")
                    self.redis.stop()
                    self.redis.start()
                for child in self.children:
                    if not child.alive() and not self.stopping:
                        self._restart(child)
                time.sleep(0.5)
        finally:
            self.stop_all()
        return 0

    def _request_stop(self, signum, _frame) -> None:
        if not self.stopping:
            print(f"\nStopping ({signal.Signals(signum).name})...", file=sys.stderr, flush=True)
        self.stopping = True

    def _restart(self, child: Child) -> None:
        code = child.process.returncode if child.process else None
        # Back off when a child keeps dying right after start (a config error must not spin the CPU).
        quick = time.monotonic() - child.started_at < 5
        child.restarts += 1
        log.warning("%s exited with %s; restarting (restart %d)", child.name, code, child.restarts)
        if quick:
            time.sleep(min(2 ** min(child.restarts, 5), 30))
        if not self.stopping:
            child.start()

    def stop_all(self) -> None:
        # Web first (stop taking requests), then worker (finishes its job), then the rest, Redis last.
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout
            while child.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if child.alive():
                child.signal_group(signal.SIGKILL)
                child.process.wait()
            child.signal_group(signal.SIGKILL)  # stragglers of the group, if any
        if self.redis:
            self.redis.stop()
