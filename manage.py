#!/usr/bin/env python3
"""Bootstrap for a fresh clone (standard library only).

    python3 manage.py run   [--port N]     install the runtime into .venv and start the portal
    python3 manage.py test  [pytest args]  install the project with its test extras and run the suite

Both reuse `.venv/` and skip the install when pyproject.toml has not changed since the last one.
The test command installs Debian's chromium for the browser tests when it can (root, apt-get), ends
with one line saying what ran, and stops cleanly on Ctrl-C and SIGTERM. `DSR_TEST_MIN_RAN_PERCENT`
makes it fail when fewer of the collected tests ran (.ci/run sets it for its first pass).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
CHROMIUM = Path(os.environ.get("DSR_CHROMIUM", "/usr/bin/chromium"))
STOP_GRACE_SECONDS = 60  # after Ctrl-C or SIGTERM: time for the running test to end and fixtures to tear down


def say(text: str) -> None:
    print(f"[manage] {text}", file=sys.stderr, flush=True)


def ensure_environment(extras: str | None) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        say(f"creating the virtualenv {VENV} ...")
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    wanted = {None: ["runtime", "test"], "test": ["test"]}[extras]
    if any(_stamp(kind).exists() and _stamp(kind).read_text() == digest for kind in wanted):
        return
    target = f".[{extras}]" if extras else "."
    say(f"installing {'the project with its test tools' if extras else 'the runtime dependencies'} "
        "(first run only) ...")
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", target],
                   cwd=ROOT, check=True)
    _stamp(extras or "runtime").write_text(digest)


def _stamp(kind: str) -> Path:
    return VENV / f".dsr-installed-{kind}"


def command_run(args: list[str]) -> None:
    ensure_environment(None)
    os.chdir(ROOT)
    os.execv(PYTHON, [str(PYTHON), "-m", "flask", "--app", "app", "dsr", "run", *args])


def ensure_chromium() -> None:
    """Debian's chromium for the browser tests: installed when missing and we may (root, apt-get, and
    no DSR_CHROMIUM pointing elsewhere); otherwise said once, and only the browser tests are skipped."""
    if not CHROMIUM.exists() and "DSR_CHROMIUM" not in os.environ and os.geteuid() == 0 and shutil.which("apt-get"):
        say("no Chromium: installing Debian's chromium package for the browser tests (first run only) ...")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
        subprocess.run(["apt-get", "update", "-qq"], **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-dejavu-core"],
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, **quiet)
    if CHROMIUM.exists():
        say(f"browser tests will run with {CHROMIUM}")
    else:
        say(f"no Chromium at {CHROMIUM}: the browser tests will be SKIPPED, the rest runs "
            "(install Debian's 'chromium' package to run them)")


def command_test(args: list[str]) -> None:
    ensure_environment("test")
    os.chdir(ROOT)
    ensure_chromium()
    handle, report_path = tempfile.mkstemp(prefix="dsr-test-report-", suffix=".json")
    os.close(handle)
    try:
        # Its own session: a Ctrl-C reaches pytest once, through us, and whatever it leaves behind
        # (worker processes, servers) can be killed as one group at the end.
        child = subprocess.Popen([str(PYTHON), "-m", "pytest", *args], start_new_session=True,
                                 env={**os.environ, "DSR_TEST_REPORT": report_path})
        stopped_by = _wait_forwarding_signals(child)
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = _report(Path(report_path), child.returncode, stopped_by)
    finally:
        os.unlink(report_path)
    sys.exit(code)


def _wait_forwarding_signals(child: subprocess.Popen) -> int | None:
    """Wait for pytest. Ctrl-C or SIGTERM is passed on: the running test ends, fixtures tear down and
    pytest reports. If it has not ended STOP_GRACE_SECONDS later it is interrupted at once (a second
    signal does that too), then killed. Returns the signal that stopped the run, if any."""
    received: list[int] = []

    def forward(signum, frame):
        received.append(signum)
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    escalation = [lambda: child.send_signal(signal.SIGINT), lambda: os.killpg(child.pid, signal.SIGKILL)]
    while True:
        try:
            child.wait(timeout=STOP_GRACE_SECONDS if received else None)
            break
        except subprocess.TimeoutExpired:
            if not escalation:
                break
            say(f"pytest has not stopped {STOP_GRACE_SECONDS} s after the signal: "
                f"{'interrupting' if len(escalation) == 2 else 'killing'} it")
            escalation.pop(0)()
    return received[0] if received else None


def _report(path: Path, returncode: int, stopped_by: int | None) -> int:
    """Print the one-line summary last and decide the exit code."""
    try:
        report = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        report = {}
    if stopped_by is not None:
        print(f"{report.get('line', 'tests: no summary')} -- STOPPED by {signal.Signals(stopped_by).name}",
              flush=True)
        return 128 + stopped_by
    if not report:
        print(f"tests: pytest ended (exit {returncode}) without a summary: nothing is known to have run", flush=True)
        return returncode or 1
    code = returncode
    minimum = float(os.environ.get("DSR_TEST_MIN_RAN_PERCENT", "0"))
    ran = report["passed"] + report["failed"]
    if report["collected"] and 100 * ran / report["collected"] < minimum:
        print(f"[manage] only {ran} of {report['collected']} collected tests ran, fewer than the "
              f"{minimum:g} % required (DSR_TEST_MIN_RAN_PERCENT)", flush=True)
        code = code or 1
    if report["collected"] == 0 and code == 0:
        print("[manage] no test was collected", flush=True)
        code = 1
    print(report["line"] + ("" if code == 0 else f" -- FAILED (exit {code})"), flush=True)
    return code


def main() -> None:
    commands = {"run": command_run, "test": command_test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
