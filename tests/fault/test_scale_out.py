"""Scale-out (issue 16): two web processes (gunicorn) and three workers (`flask dsr worker`), each its own
process, on one private PostgreSQL, one private Redis and bundles in an S3-compatible store (moto's
server). 200 access requests are approved across both web processes; one worker is SIGKILLed midway.
What must hold: every case gets exactly one bundle, stored once, complete and verifiable, and a job
that ran twice (the dead worker's) came to the same result as everyone else's.

The requests are created verified (what intake and the codes leave: `open_case`), then approved by
two officers through the real staff pages over HTTP, one on each web process — the filing forms and
codes have their own tests, and 200 of them through the rate limits would be most of the run. The
connected systems are the demo's SQL and file systems (CRM, accounting, newsletter) on the demo's
small data set, for eight people, so the same person's data must come out the same in every bundle.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
import sqlalchemy as sa
from rq import Worker

from dsr import REPO_ROOT, create_app
from dsr.bundle.signing import private_key, public_key_text
from dsr.bundle.writer import verify_bundle
from dsr.cases.opening import open_case
from dsr.db import get_db
from dsr.demo_systems.build import ensure_demo_data
from dsr.demo_systems.people import people
from dsr.export.assembly import BUNDLE_PURPOSE
from dsr.export.storage import get_store, open_sealed
from dsr.migrate import upgrade
from dsr.models import (
    AuditEvent,
    ExportBundle,
    OutboxJob,
    RequestStatus,
    Right,
    SubjectRequest,
    SystemTask,
    TaskState,
)
from tests.helpers.jobs import free_port, kill_family, spawn_worker, stop_worker, wait_until, worker_env
from tests.helpers.objectstore import s3_config, start_s3_server
from tests.helpers.staff import PASSWORD, enrolled_staff, fresh_code

CASES = 200
PEOPLE = 8
KILL_AT_READY = 60  # "midway": the third worker dies once this many bundles are stored
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]+)"')


@pytest.fixture
def s3_endpoint(monkeypatch):
    server, endpoint = start_s3_server(monkeypatch)
    yield endpoint
    server.stop()


def _systems_file(folder: Path) -> Path:
    """The example systems file without the chat API and the manual mailbox (no server, no person)."""
    text = (REPO_ROOT / "instance" / "systems.example.toml").read_text()
    path = folder / "systems.toml"
    path.write_text(text[:text.index('[[systems]]\nkey = "support_chat"')])
    return path


def _spawn_web(app, port: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 (kept open for the process's life)
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4", "--bind",
                             f"127.0.0.1:{port}", "app:app"], cwd=REPO_ROOT, env=worker_env(app), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _token(response: httpx.Response) -> str:
    return _VALUE.search(_CSRF.search(response.text).group(0)).group(1)


def _staff_client(base: str, user, secret: str) -> tuple[httpx.Client, str]:
    """An officer logged in through the login and code pages of one web process; the page's CSRF token."""
    client = httpx.Client(base_url=base, timeout=30)
    sent = client.post("/staff/login", data={"email": user.email, "password": PASSWORD,
                                             "csrf_token": _token(client.get("/staff/login"))})
    assert sent.status_code == 302, sent.text[:300]
    coded = client.post("/staff/login/code", data={"code": fresh_code(secret),
                                                   "csrf_token": _token(client.get("/staff/login/code"))})
    assert coded.status_code == 302, coded.text[:300]
    return client, _token(client.get("/staff/"))


def _running_job(redis_url: str, pid: int) -> str | None:
    """The id of the job the worker with this pid is running now, if any."""
    connection = redis_lib.Redis.from_url(redis_url)
    try:
        return next((w.get_current_job_id() for w in Worker.all(connection=connection) if w.pid == pid), None)
    finally:
        connection.close()


def _verified_cases(session) -> list[int]:
    emails = [person.email for person in people()[:PEOPLE]]
    ids = []
    for number in range(CASES):
        request = SubjectRequest(email=emails[number % PEOPLE], right=Right.ACCESS, language="en",
                                 status=RequestStatus.AWAITING_VERIFICATION)
        session.add(request)
        session.flush()
        open_case(session, request, method="email_code+sms_code")
        ids.append(request.id)
    session.commit()
    return ids


def test_two_web_processes_and_three_workers_make_every_bundle_once(private_postgres, private_redis, s3_endpoint,
                                                                   app_config, tmp_path):
    started = time.monotonic()
    instance = Path(app_config["INSTANCE_PATH"])
    ensure_demo_data(instance)
    app_config.update(DATABASE_URL=private_postgres.url, REDIS_URL=private_redis.url,
                      SYSTEMS_FILE=str(_systems_file(tmp_path)), EXPORT_LEASE_SECONDS=5, OUTBOX_SWEEP_SECONDS=1.0,
                      **s3_config(s3_endpoint))
    app = create_app(app_config)
    upgrade(app)
    processes: list[subprocess.Popen] = []
    try:
        with app.app_context(), get_db(app).session() as session:
            officers = [enrolled_staff(session, app) for _ in range(2)]
            case_ids = _verified_cases(session)
            ports = [free_port(), free_port()]
            webs = [_spawn_web(app, port, tmp_path / f"web{i}.log") for i, port in enumerate(ports)]
            processes += webs
            workers = [spawn_worker(app, tmp_path / f"worker{i}.log") for i in range(3)]
            processes += workers
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for base in bases:
                wait_until(lambda base=base: _answers(base), timeout=60, interval=0.2, message=f"gunicorn at {base}")
            clients = [_staff_client(base, user, secret) for base, (user, secret) in zip(bases, officers)]

            def approve(index_and_id: tuple[int, int]) -> int:
                client, token = clients[index_and_id[0] % 2]  # alternate between the two web processes
                return client.post(f"/staff/cases/{index_and_id[1]}/approve", data={"csrf_token": token}).status_code

            filing = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                statuses = Counter(pool.map(approve, enumerate(case_ids)))
            approved_in = time.monotonic() - filing
            assert statuses == {302: CASES}, statuses

            def ready() -> int:
                session.rollback()  # a fresh snapshot each time
                return session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest).where(
                    SubjectRequest.status == RequestStatus.READY_FOR_REVIEW))

            wait_until(lambda: ready() >= KILL_AT_READY, timeout=180, interval=0.2, message="bundles under way")
            wait_until(lambda: _running_job(private_redis.url, workers[0].pid), timeout=30, interval=0.005,
                       message="the worker in the middle of a job")
            killed_at = ready()
            kill_family(workers[0].pid)  # SIGKILL, the worker and anything it forked, mid-job
            workers[0].wait(10)
            wait_until(lambda: ready() == CASES, timeout=300, interval=0.5, message="every case ready for review")
            all_ready_in = time.monotonic() - filing
            for process in workers[1:]:
                stop_worker(process)
            for process in webs:
                process.terminate()
                process.wait(15)
            for client, _token_value in clients:
                client.close()

            figures = _check_every_bundle(app, session, case_ids, tmp_path)
        print(f"\nscale-out: {CASES} cases approved through 2 web processes in {approved_in:.1f} s; worker SIGKILLed "
              f"with {killed_at} bundles ready; all {CASES} ready {all_ready_in:.1f} s after the first approval; "
              f"{figures['rerun_tasks']} export tasks re-run, jobs published more than once: {figures['rerun_jobs']}; "
              f"whole test {time.monotonic() - started:.1f} s")
    finally:
        for process in processes:
            if process.poll() is None:
                kill_family(process.pid)
                process.wait(10)
        get_db(app).dispose()


def _check_every_bundle(app, session, case_ids: list[int], folder: Path) -> dict:
    """One bundle per case, stored once and nothing else stored; each complete (size and SHA-256 as
    recorded), verifiable under the installation's key, and the same person's data the same in all."""
    session.expire_all()
    bundles = session.scalars(sa.select(ExportBundle)).all()
    assert sorted(b.request_id for b in bundles) == sorted(case_ids)
    store = get_store(app)
    assert sorted(store.children("bundles")) == sorted(b.storage_name for b in bundles)  # no orphan, no twin
    emails = dict(session.execute(sa.select(SubjectRequest.id, SubjectRequest.email)).all())
    public_key = public_key_text(private_key(app.config["SIGNING_KEY"]))
    data_by_person: dict[str, set] = defaultdict(set)
    path = folder / "bundle.zip"
    with app.app_context():
        for bundle in bundles:
            digest, size = hashlib.sha256(), 0
            with open(path, "wb") as out:
                for chunk in open_sealed(f"bundles/{bundle.storage_name}", BUNDLE_PURPOSE):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            assert (size, digest.hexdigest()) == (bundle.size_bytes, bundle.sha256), bundle.id
            result = verify_bundle(path, expected_public_key=public_key)
            assert result.ok and result.key_checked, (bundle.id, result.bad_path)
            with zipfile.ZipFile(path) as archive:
                manifest = json.loads(archive.read("manifest.json"))
            data = frozenset((f["path"], f["sha256"]) for f in manifest["files"] if f["path"].startswith("data/"))
            data_by_person[emails[bundle.request_id]].add(data)
    assert all(len(variants) == 1 for variants in data_by_person.values()), {
        email: len(variants) for email, variants in data_by_person.items()}  # a re-run job: the same result
    ready_events = Counter(session.scalars(sa.select(AuditEvent.request_id).where(AuditEvent.action == "bundle.ready")))
    assert set(ready_events.values()) == {1} and len(ready_events) == len(case_ids)
    tasks = session.scalars(sa.select(SystemTask)).all()
    assert {t.state for t in tasks} == {TaskState.DONE} and len(tasks) == 3 * len(case_ids)
    records = defaultdict(set)
    for task in tasks:
        records[(emails[task.request_id], task.system_key)].add(task.records)
    assert all(len(counts) == 1 for counts in records.values())
    unfinished = session.scalar(sa.select(sa.func.count()).select_from(OutboxJob).where(
        OutboxJob.completed_at.is_(None), OutboxJob.job_name.in_(["export_system", "assemble_bundle"])))
    assert unfinished == 0
    rerun_jobs = session.scalars(sa.select(OutboxJob.job_name).where(OutboxJob.publish_count > 0)).all()
    assert rerun_jobs  # the killed worker's job was published again, and ran (to the same result: above)
    return {"rerun_tasks": sum(1 for t in tasks if t.attempts > 1), "rerun_jobs": dict(Counter(rerun_jobs))}
