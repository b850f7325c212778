"""The README's run command: serves the start page and a healthy /healthz, and Ctrl-C leaves nothing behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dsr import REPO_ROOT
from dsr.runner import child_environment
from tests.helpers.jobs import free_port, wait_until


def _descendants(root: int) -> set[int]:
    """Every process whose ancestry leads to root, or that shares a session with one that does."""
    parents, sessions = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)], sessions[int(entry.name)] = int(fields[1]), int(fields[3])
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if pid not in found and (ppid in found or sessions[pid] in found):
                found.add(pid)
                changed = True
    return found - {root}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def _start(tmp_path: Path, port: int, log_name: str) -> tuple[subprocess.Popen, Path]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DSR_")}
    env.update(DSR_INSTANCE_PATH=str(tmp_path / "instance"), PORT=str(port))
    log_path = tmp_path / log_name
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "dsr", "run"], cwd=REPO_ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, log_path


def _demo_line(log_path: Path) -> str:
    return next(line for line in log_path.read_text().splitlines() if "demo staff" in line)


@pytest.mark.slow
def test_run_serves_the_portal_and_sigint_stops_every_process(tmp_path):
    port = free_port()
    process, log_path = _start(tmp_path, port, "run1.log")
    try:
        started = time.monotonic()
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz")[0] == 200, timeout=90,
                   message="healthz 200")
        status, body = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and b"Datatilsynet" in body
        assert b'"queue":"ok"' in _get(f"http://127.0.0.1:{port}/healthz")[1].replace(b" ", b"")
        print(f"portal healthy after {time.monotonic() - started:.1f}s")
        family = _descendants(process.pid)
        assert len(family) >= 3  # redis, worker, web server (and its workers)
        # the pages come first: a crowd filing at once is answered before the mail is built
        niceness = {_command(pid): os.getpriority(os.PRIO_PROCESS, pid) for pid in family if _command(pid)}
        assert {nice for command, nice in niceness.items() if "dsr worker" in command} == {10}
        assert {nice for command, nice in niceness.items() if "gunicorn" in command} == {0}
        secrets_file = (tmp_path / "instance" / "secrets.json").read_text()
        wait_until(lambda: "demo staff" in log_path.read_text(), timeout=30, message="credentials printed")
        assert "one-time password: " in _demo_line(log_path)  # shown once, when the account is made
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        wait_until(lambda: not any(_alive(pid) for pid in family), timeout=10, message="all children gone")

        # A second start reuses the keys, the database and the demo account.
        process, log_path = _start(tmp_path, port, "run2.log")
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz")[0] == 200, timeout=60, message="restart")
        wait_until(lambda: "demo staff" in log_path.read_text(), timeout=30, message="demo account named")
        assert "exists" in _demo_line(log_path) and "password:" not in log_path.read_text()  # issue 13, finding 14
        assert (tmp_path / "instance" / "secrets.json").read_text() == secrets_file
        family = _descendants(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        wait_until(lambda: not any(_alive(pid) for pid in family), timeout=10, message="all children gone")
    finally:
        if process.poll() is None:
            process.kill()


def test_links_in_mail_follow_the_port_unless_a_base_url_is_configured(app, monkeypatch, tmp_path):
    monkeypatch.delenv("DSR_BASE_URL", raising=False)
    app.config["BASE_URL"] = "http://127.0.0.1:5000"  # the built-in default
    assert child_environment(app, tmp_path, "http://127.0.0.1:5077")["DSR_BASE_URL"] == "http://127.0.0.1:5077"
    app.config["BASE_URL"] = "https://privacy.fjordnett.example"
    assert "DSR_BASE_URL" not in child_environment(app, tmp_path, "http://127.0.0.1:5077")
