#!/usr/bin/env python3
"""Bootstrap for a fresh clone (standard library only).

    python3 manage.py run   [--port N]     install the runtime into .venv and start the portal
    python3 manage.py test  [pytest args]  install the project with its test extras and run the suite

Both reuse `.venv/` and skip the install when pyproject.toml has not changed since the last one.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
CHROMIUM = Path(os.environ.get("DSR_CHROMIUM", "/usr/bin/chromium"))


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


def command_test(args: list[str]) -> None:
    ensure_environment("test")
    os.chdir(ROOT)
    if CHROMIUM.exists():
        say(f"browser tests will run with {CHROMIUM}")
    else:
        say(f"no Chromium at {CHROMIUM}: the browser tests will be SKIPPED "
            "(install Debian's 'chromium' package to run them)")
    os.execv(PYTHON, [str(PYTHON), "-m", "pytest", *args])


def main() -> None:
    commands = {"run": command_run, "test": command_test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
