"""Shared bench plumbing: a private portal instance, an embedded Redis, a real worker process, RSS sampling."""
from __future__ import annotations

import base64
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def portal_config(instance: Path, systems_file: Path, database_url: str | None = None) -> dict[str, str]:
    """DSR_* settings for the bench's own portal (also handed to the worker process)."""
    instance.mkdir(parents=True, exist_ok=True)
    return {
        "DSR_INSTANCE_PATH": str(instance),
        "DSR_DATABASE_URL": database_url or f"sqlite:///{instance / 'dsr.sqlite3'}",
        "DSR_SYSTEMS_FILE": str(systems_file),
        "DSR_SECRET_KEY": secrets.token_urlsafe(32),
        "DSR_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DSR_SIGNING_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DSR_QUEUE_PREFIX": "dsrbench",
        "DSR_JOB_TIMEOUT": "3600",
    }


class Portal:
    """The app in this process (the approving side, like a web worker) + one `flask dsr worker` process."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        os.environ.update(env)
        from dsr import create_app
        from dsr.migrate import upgrade
        from dsr.queue.broker import ensure_embedded

        self.app = create_app()
        upgrade(self.app)
        ensure_embedded(self.app)
        self.worker: subprocess.Popen | None = None

    def start_worker(self) -> None:
        log_file = open(Path(self.env["DSR_INSTANCE_PATH"]) / "worker.log", "ab")  # noqa: SIM115
        self.worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "dsr", "worker"], cwd=REPO,
                                       env={**os.environ, **self.env}, stdout=log_file, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        time.sleep(1.5)  # import, connect, first sweep

    def stop(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
        embedded = self.app.extensions.get("dsr.embedded_redis")
        if embedded:
            embedded.stop()


class RssSampler(threading.Thread):
    """Peak of the summed RSS of the given processes and all their descendants, every 50 ms."""

    def __init__(self, trees: list[int], alone: tuple[int, ...] = (), interval: float = 0.05):
        super().__init__(daemon=True)
        self.trees, self.alone, self.interval = trees, alone, interval  # with / without their children
        self.peak = 0
        self.stopping = threading.Event()

    def sample(self) -> int:
        processes: dict[int, psutil.Process] = {}
        for pid in self.alone:
            try:
                processes[pid] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                pass
        for pid in self.trees:
            try:
                root = psutil.Process(pid)
                for process in (root, *root.children(recursive=True)):
                    processes[process.pid] = process
            except psutil.NoSuchProcess:
                continue
        total = 0
        for process in processes.values():
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak = max(self.peak, self.sample())
            self.stopping.wait(self.interval)

    def stop(self) -> int:
        self.stopping.set()
        self.join()
        return self.peak


def approve_and_wait(app, email: str, right: str = "access", timeout: float = 600.0,
                     web: WebServer | None = None, until: str = "ready_for_review") -> tuple[float, int]:
    """Approve a new case and wait until it reaches `until` (an access bundle ready for review; an
    erasure applied, proven and completed): through the staff page of `web` (a gunicorn process) when
    given, else in this process the way the staff area's button does. Returns (seconds from the
    approval to that status, request id)."""
    import sqlalchemy as sa

    from dsr.cases import states
    from dsr.cases.states import Action
    from dsr.db import get_db
    from dsr.models import RequestStatus, Right, SubjectRequest
    from dsr.tasks.registry import start_work

    with app.app_context():
        db = get_db(app)
        with db.session() as session:
            request = SubjectRequest(email=email, right=Right(right), status=RequestStatus.OPEN, language="en")
            session.add(request)
            session.commit()
            request_id = request.id
            if web is not None:
                token = web.open_case(request_id)
                started = time.perf_counter()
                web.approve(request_id, token)
            else:
                started = time.perf_counter()
                states.apply(request, Action.APPROVE)
                start_work(session, request)
                session.commit()  # the relay publishes right after this commit
        query = sa.select(SubjectRequest.status).where(SubjectRequest.id == request_id)
        deadline = time.monotonic() + timeout
        with db.engine.connect() as connection:
            while time.monotonic() < deadline:
                status = connection.execute(query).scalar()
                connection.rollback()
                if status is RequestStatus(until):
                    return time.perf_counter() - started, request_id
                time.sleep(0.005)
    raise TimeoutError(f"the case did not reach {until} in time; see worker.log in the instance folder")


def phases(app, request_id: int) -> str:
    """Where the time went, from the rows' own timestamps (logged, not printed as figures)."""
    import sqlalchemy as sa

    from dsr.db import get_db
    from dsr.models import ExportBundle, OutboxJob, SystemTask

    with app.app_context(), get_db(app).session() as session:
        task = session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request_id)).all()
        bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request_id))
        first = session.scalar(sa.select(sa.func.min(OutboxJob.created_at)).where(OutboxJob.request_id == request_id))
        published = session.scalar(sa.select(sa.func.min(OutboxJob.published_at))
                                   .where(OutboxJob.request_id == request_id))
        started = min(t.started_at for t in task)
        finished = max(t.finished_at for t in task)
        ms = lambda a, b: f"{(b - a).total_seconds() * 1000:.0f}ms"
        return (f"approve->published {ms(first, published)}, published->task started {ms(published, started)}, "
                f"export {ms(started, finished)}, finished->bundle ready {ms(finished, bundle.ready_at)}, "
                f"bundle {bundle.size_bytes / 1e6:.1f} MB")


def action_phases(app, request_id: int) -> str:
    """Where an erasure's time went, from the rows' own timestamps (logged, not printed as figures)."""
    import sqlalchemy as sa

    from dsr.db import get_db
    from dsr.models import OutboxJob, SubjectRequest, SystemTask

    with app.app_context(), get_db(app).session() as session:
        tasks = session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request_id)).all()
        request = session.get(SubjectRequest, request_id)
        first = session.scalar(sa.select(sa.func.min(OutboxJob.created_at)).where(OutboxJob.request_id == request_id))
        published = session.scalar(sa.select(sa.func.min(OutboxJob.published_at))
                                   .where(OutboxJob.request_id == request_id))
        started = min(t.started_at for t in tasks)
        finished = max(t.finished_at for t in tasks if t.finished_at)
        changed = sum(t.records for t in tasks)
        ms = lambda a, b: f"{(b - a).total_seconds() * 1000:.0f}ms"
        return (f"approve->published {ms(first, published)}, published->task started {ms(published, started)}, "
                f"plan+apply+proof {ms(started, finished)} ({changed} rows changed), "
                f"finished->completed {ms(finished, request.closed_at)}")


class WebServer:
    """The portal's web side as production runs it: `gunicorn app:app` (one sync worker) on a free port,
    and a staff officer logged in through the real pages (password, then TOTP), who approves by POSTing
    the case page's Approve form. The bench process only plays the browser."""

    def __init__(self, portal: Portal):
        import httpx

        self.process, self.port = start_gunicorn(portal.env, "--workers", "1")
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)
        try:
            self._login(portal.app)
        except BaseException:
            self.stop()  # the caller never gets this object to stop
            raise

    def _token(self, path: str) -> str:
        import re

        page = self.http.get(path)
        tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page.text)
        match = tag and re.search(r'value="([^"]+)"', tag.group(0))
        if not match:
            raise RuntimeError(f"no CSRF token on {path} (HTTP {page.status_code})")
        return match.group(1)

    def _login(self, app) -> None:
        import pyotp

        from dsr.auth.passwords import hash_password
        from dsr.crypto import seal
        from dsr.db import get_db, utcnow
        from dsr.models import StaffRole, StaffUser

        password, secret = secrets.token_urlsafe(16), pyotp.random_base32()
        email = f"bench-{secrets.token_hex(4)}@example.no"
        with app.app_context(), get_db(app).session() as session:
            session.add(StaffUser(email=email, display_name="Bench officer", role=StaffRole.OFFICER,
                                  password_hash=hash_password(password), must_change_password=False,
                                  totp_secret_sealed=seal(secret, app), totp_enrolled_at=utcnow()))
            session.commit()
        steps = [("/staff/login", {"email": email, "password": password}),
                 ("/staff/login/code", {"code": pyotp.TOTP(secret).now()})]
        for path, form in steps:
            answer = self.http.post(path, data={**form, "csrf_token": self._token(path)})
            if answer.status_code != 302:
                raise RuntimeError(f"staff login failed at {path} (HTTP {answer.status_code})")

    def open_case(self, case_id: int) -> str:
        """The case page, as the officer has it open before clicking Approve; returns its form token."""
        return self._token(f"/staff/cases/{case_id}")

    def approve(self, case_id: int, token: str) -> None:
        answer = self.http.post(f"/staff/cases/{case_id}/approve", data={"csrf_token": token})
        if answer.status_code != 302 or answer.headers.get("location", "").endswith("/staff/login"):
            raise RuntimeError(f"approve answered HTTP {answer.status_code}")

    def stop(self) -> None:
        self.http.close()
        stop_process(self.process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict[str, str], *options: str) -> tuple[subprocess.Popen, int]:
    """`gunicorn app:app` with `options` on a free loopback port, once /healthz answers: (process, port).
    Its output goes to web.log in the instance folder."""
    port = free_port()
    log_file = open(Path(env["DSR_INSTANCE_PATH"]) / "web.log", "ab")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", *options, "--bind", f"127.0.0.1:{port}", "app:app"],
                               cwd=REPO, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while not _answers_health(port):
        if time.monotonic() > deadline or process.poll() is not None:
            stop_process(process)
            raise RuntimeError("gunicorn did not answer; see web.log in the instance folder")
        time.sleep(0.1)
    return process, port


def _answers_health(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then after 20 s SIGKILL to its process group (it was started in a session of its own)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
