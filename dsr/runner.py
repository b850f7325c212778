"""The run command: keys, migrations, demo data, then Redis + demo systems + worker + web together."""
from __future__ import annotations

import os
import secrets
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from dsr import demo, migrate
from dsr.config import DEFAULTS, ensure_instance_secrets, read_secrets_file
from dsr.connectors.registry import get_systems
from dsr.demo_systems.vendors import stand_ins
from dsr.notify.transports import prune_outbox
from dsr.queue.broker import EmbeddedRedis
from dsr.supervisor import Child, Supervisor


def _demo_chat(app: Flask) -> list[str]:
    """The demo support-chat API on a free port; web and worker find it through DSR_DEMO_CHAT_URL."""
    if not os.environ.get("DSR_DEMO_CHAT_URL"):
        os.environ["DSR_DEMO_CHAT_URL"] = f"http://127.0.0.1:{_free_port()}/api/v1"
    os.environ.setdefault("DSR_DEMO_CHAT_TOKEN", secrets.token_urlsafe(24))
    port = urlsplit(os.environ["DSR_DEMO_CHAT_URL"]).port or 80
    return [sys.executable, "-m", "dsr.demo_systems.chat_server", "--port", str(port)]


def _demo_vendors(app: Flask) -> list[str] | None:
    """The vendors' stand-ins (dsr.demo_systems.vendors), when a [[systems]] entry uses a template: each
    template's URL variable points at its stand-in unless it is set already (a real service wins), with
    fresh demo credentials for those that are not set."""
    if not any(system.template for system in get_systems(app).values()):
        return None
    ports = {name: _free_port() for name in stand_ins.NAMES}
    wanted = {**stand_ins.credentials(), **stand_ins.urls("127.0.0.1", ports),
              "DSR_GA4_KEY_FILE": str(Path(app.instance_path) / "demo" / "ga4-service-account.json")}
    for name, value in wanted.items():
        os.environ.setdefault(name, value)
    Path(os.environ["DSR_GA4_KEY_FILE"]).parent.mkdir(parents=True, exist_ok=True)
    return [sys.executable, "-m", "dsr.demo_systems.vendors", "--ports",
            ",".join(f"{name}={port}" for name, port in ports.items())]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Extra long-running demo processes (the demo support-chat API, ...): name -> command factory, which
# returns None when the service is not needed. A factory may set environment variables (os.environ)
# that web and worker then inherit.
DEMO_SERVICES: dict[str, object] = {"demo-chat": _demo_chat, "demo-vendors": _demo_vendors}


def run_portal(app: Flask, *, host: str, port: int) -> int:
    instance = Path(app.instance_path)
    make_private(instance)
    ensure_instance_secrets(instance)
    prune_outbox(Path(app.config["OUTBOX_DIR"]), float(app.config["OUTBOX_KEEP_DAYS"]))
    app.config.update(read_secrets_file(instance / "secrets.json"))
    print("Preparing the database...", file=sys.stderr, flush=True)
    migrate.upgrade(app)
    info = demo.load_demo(app)

    base = f"http://{host}:{port}"
    env = child_environment(app, instance, base)
    commands = {name: factory(app) for name, factory in DEMO_SERVICES.items()}
    children = [Child(name, command, env) for name, command in commands.items() if command is not None]
    # The worker at nice 10: a crowd filing at once is answered first, its mail follows seconds later.
    children.append(Child("worker", [sys.executable, "-m", "flask", "--app", "app", "dsr", "worker"], env, nice=10))
    children.append(Child("web", [
        sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", "2", "--threads", "4",
        "--graceful-timeout", "5", "--timeout", "60",
        # gunicorn 27 opens a control socket in ~/.gunicorn by default: shared by every portal on the
        # machine and outside the instance folder. The run command needs none.
        "--no-control-socket", "app:app",
    ], env))
    embedded = None if app.config["REDIS_URL"] else EmbeddedRedis(instance)

    def announce(supervisor: Supervisor) -> None:
        if _wait_for(f"{base}/healthz", timeout=60, give_up=lambda: supervisor.stopping):
            print(f"\nThe portal is running at {base}/  (staff area: {base}/staff/)\n"
                  f"{_demo_login(info)}\n"
                  f"  mail and SMS are written to {app.config['OUTBOX_DIR']}/\n"
                  f"Press Ctrl-C to stop.\n", file=sys.stderr, flush=True)
        elif not supervisor.stopping:
            print(f"The web server did not answer on {base} within 60 s; see the messages above.",
                  file=sys.stderr, flush=True)

    return Supervisor(children, embedded_redis=embedded).run(on_ready=announce)


def _demo_login(info: demo.DemoInfo) -> str:
    """The one-time password is shown once, when the account is made; later starts only name the account."""
    if info.one_time_password:
        return (f"  demo staff login: {info.staff_email}  one-time password: {info.one_time_password}\n"
                "  (shown only now: at the first login you set up two-step verification and choose your own)")
    return (f"  demo staff account: {info.staff_email} (exists; its one-time password was shown at the first "
            "start.\n  Lost it? `flask dsr create-staff you@example.com --role admin` makes another account)")


def make_private(instance: Path) -> None:
    """The instance folder holds keys, the database and codes in clear: the owner's alone. umask 077
    covers everything this process and its children (web, worker, Redis) create from now on; what
    was made before (the folder itself, compiled translations, an older version's files) is closed."""
    os.umask(0o077)
    instance.mkdir(parents=True, exist_ok=True)
    for path in (instance, *instance.rglob("*")):
        if not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o077)


def child_environment(app: Flask, instance: Path, base: str) -> dict[str, str]:
    env = {"DSR_INSTANCE_PATH": str(instance)}
    if "DSR_BASE_URL" not in os.environ and app.config["BASE_URL"] == DEFAULTS["BASE_URL"]:
        env["DSR_BASE_URL"] = base  # links in mail must point where this portal listens (PORT=...)
    return env


def _wait_for(url: str, timeout: float, give_up) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not give_up():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False
