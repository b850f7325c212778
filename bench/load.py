"""Load: the public pages under many visitors at once, on gunicorn against PostgreSQL and Redis.

    .venv/bin/python bench/load.py [--submissions 1000] [--concurrency 50] [--case-concurrency 200]

A private portal: its own PostgreSQL database (dsr_load_<pid>, dropped at the end), an empty Redis
database number on the given server (claimed with a marker key, flushed at the end), one real
`flask dsr worker` at nice 10, and `gunicorn app:app` on loopback with two sync workers: the
single-host deployment the README's "Operations" describes (pages before background work; sync
workers, as behind a reverse proxy). --web-worker-class, --web-workers, --web-threads and
--worker-nice change it. The abuse limits are raised by configuration (DSR_RATE_LIMITS), as an
operator expecting a crowd behind one address would; nothing else in the product knows it is measured.

Phase 1, intake: --submissions access requests, each by a new browser, --concurrency at a time. Each
browser does what a person does: GET the form (session cookie and CSRF token), POST the answers
(check your answers), POST the check page's form as it is (Send), and follow the redirect to the
"Request received" page. `intake_received` counts browsers that reached that page; `intake_stored`
counts the rows in subject_requests afterwards (a request the portal said it received must exist).

Phase 2, case pages: --case-concurrency of those browsers prove their e-mail address with the code
from the acknowledgement (read from the outbox folder, as the subject reads the mail) and wait until
the lookup job opens their case, outside the clock; then all of them at once open their case page
(/case/<id>, what a subject sees when following their request) --case-views times each, all browsers
driven from one thread (bench/_crowd.py), so the client takes little of the cores it shares.

Every request has a timeout (--timeout), every phase a deadline (--phase-seconds): a submission not
begun by then is not begun. Latencies are per HTTP request, measured by the client (which shares the
two cores). Prints name=value lines; logs go to stderr.
"""
from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the standard library module redis imports: this folder must not be on
# sys.path (it is, as the script's own folder); the repository root must be.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import base64
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy

import psutil
import redis
import sqlalchemy as sa

from bench import _harness as h
from bench._crowd import Crowd, CrowdBrowser
from bench._load_client import Browser, Latencies, form_posting_to, run_bounded
from dsr.db import get_db
from dsr.supervisor import lower_cpu_priority

#: every limit a crowd behind one loopback address would hit; the rest keep their defaults
RAISED_LIMITS = ("intake_ip=1000000/3600 intake_address=1000/86400 code_entry_ip=1000000/600 "
                 "code_entry_address=1000/3600 resend_ip=1000000/3600 reply_ip=1000000/3600")
CLAIM_KEY = "dsr-load-bench:claimed-by"
SYSTEMS_HEADER_END = "[[systems]]"  # the example's controller block, without its connected systems


def log_load(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    text = f"{one:.2f} {five:.2f} {fifteen:.2f}"
    h.log(f"load average {when}: {text}")
    return text


def cpu_yardstick_ms() -> float:
    """Milliseconds one core takes for a fixed pure-Python loop (best of three). The VM's host changes
    between runs (the same code has cost 1.8 times as much CPU from one day to the next): figures
    compare only between runs with a like yardstick."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for number in range(2_000_000):
            total += number
        best = min(best, time.process_time() - started)
    return best * 1000


# --------------------------------------------------------------------------- the private database and Redis


def create_database(server_url: str) -> str:
    """A fresh database on the server, named after this process; returns its URL."""
    url = sa.make_url(server_url).set(database=f"dsr_load_{os.getpid()}")
    admin = sa.create_engine(sa.make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    admin.dispose()
    return url.render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    parsed = sa.make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    admin.dispose()


def claim_redis_database(server_url: str) -> str:
    """The URL of an empty database number on the Redis server, marked as this process's (RQ keeps
    global keys such as rq:workers, so a key prefix alone would not keep the bench apart)."""
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(server_url, db=number)
        try:
            if client.dbsize() == 0 and client.set(CLAIM_KEY, str(os.getpid()), nx=True) and client.dbsize() == 1:
                return f"{server_url.rstrip('/')}/{number}"
        finally:
            client.close()
    raise RuntimeError(f"no empty database number 1-15 on {server_url}")


def release_redis_database(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        if client.get(CLAIM_KEY) == str(os.getpid()).encode():
            client.flushdb()
    finally:
        client.close()


# --------------------------------------------------------------------------- phase 1: intake


class Visitor:
    """One person filing an access request in a browser of their own."""

    def __init__(self, number: int, port: int, latencies: Latencies, timeout: float):
        self.email = f"load-{number:05d}-{secrets.token_hex(3)}@example.no"
        self.browser = Browser("127.0.0.1", port, latencies, timeout)
        self.received_page = ""

    def file_request(self) -> None:
        form_page = self.browser.get("/request/access")
        expect(form_page.status == 200, f"form page answered {form_page.status}")
        answers = form_posting_to(form_page.body, "/request/access")
        check = self.browser.post("/request/access", answers.filled(full_name="Load Visitor", email=self.email,
                                                                     phone=""))
        expect(check.status == 200, f"check page answered {check.status}")
        sent = self.browser.post("/request/access/send", form_posting_to(check.body, "/request/access/send").fields)
        expect(sent.status == 303 and sent.location.startswith("/request/received"),
               f"send answered {sent.status} to {sent.location}")
        received = self.browser.follow(sent)
        expect(received.status == 200 and "Request received" in received.body,
               f"received page answered {received.status}")
        self.received_page = received.body
        self.browser.close()  # the visitor leaves; phase 2 reconnects


def expect(condition: bool, problem: str) -> None:
    if not condition:
        raise RuntimeError(problem)


def stored_requests(database_url: str, emails: set[str]) -> int:
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT email FROM subject_requests").scalars().all()
    engine.dispose()
    return sum(1 for email in rows if email in emails)


# --------------------------------------------------------------------------- phase 2: case pages


def wait_for_idle_worker(database_url: str, deadline: float) -> int:
    """Wait until no job is due and unfinished (the acknowledgements, lookups and letters phase 1 and the
    verifications caused), so phase 2 measures the case pages, not the backlog. Returns jobs left."""
    engine = sa.create_engine(database_url)
    pending = sa.text("SELECT count(*) FROM outbox_jobs WHERE completed_at IS NULL AND failed_at IS NULL "
                      "AND (run_at IS NULL OR run_at <= now())")
    try:
        while True:
            with engine.connect() as connection:
                left = connection.execute(pending).scalar()
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.5)
    finally:
        engine.dispose()


class Mailbox:
    """The acknowledgements the worker wrote to the outbox folder (no SMTP host is set), by recipient."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.read: set[str] = set()
        self.codes: dict[str, str] = {}
        self.lock = threading.Lock()

    def code_for(self, address: str, deadline: float) -> str:
        while time.monotonic() < deadline:
            with self.lock:
                self._scan()
                if address in self.codes:
                    return self.codes[address]
            time.sleep(0.2)
        raise TimeoutError(f"no code for {address} in the outbox")

    def _scan(self) -> None:
        for path in sorted(self.folder.glob("*.eml")):
            if path.name in self.read or path.name.startswith("."):  # a mail still being written
                continue
            self.read.add(path.name)
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            body = mail.get_body(preferencelist=("plain",))
            code = re.search(r"(?m)^\s*(\d{6})\s*$", body.get_content() if body else "")
            if code and mail["To"] not in self.codes:
                self.codes[str(mail["To"])] = code.group(1)


def open_case(visitor: Visitor, mailbox: Mailbox, deadline: float) -> str:
    """Prove the e-mail address with the mailed code (the received page's form), then wait until the
    lookup opens the case; returns the case page's path. Outside the clock."""
    form = form_posting_to(visitor.received_page, "/verify/[^/]+")
    public_id = form.action.rstrip("/").rsplit("/", 1)[-1]
    proven = visitor.browser.post(form.action, form.filled(code=mailbox.code_for(visitor.email, deadline)))
    expect(proven.status in (302, 303), f"code answered {proven.status}")
    case_path = f"/case/{public_id}"
    while time.monotonic() < deadline:
        if visitor.browser.get(case_path).status == 200:
            visitor.browser.close()
            return case_path
        time.sleep(0.5)
    raise TimeoutError(f"case {public_id} did not open")


# --------------------------------------------------------------------------- the run


def portal_env(workdir: Path, database_url: str, redis_url: str, args) -> dict[str, str]:
    systems = workdir / "systems.toml"
    example = (h.REPO / "instance" / "systems.example.toml").read_text()
    systems.write_text(example.split(SYSTEMS_HEADER_END)[0])
    return {
        **h.portal_config(workdir / "instance", systems, database_url),
        "DSR_REDIS_URL": redis_url,
        "DSR_QUEUE_PREFIX": f"dsrload{os.getpid()}",
        "DSR_AUDIT_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DSR_RATE_LIMITS": RAISED_LIMITS,
        "DSR_JOB_TIMEOUT": "600",
    }


class CpuMeter:
    """CPU seconds spent by each side during a phase: this process (the browsers), the gunicorn tree,
    the worker tree, and the PostgreSQL backends serving the bench's database. On a shared machine
    this tells whether the client or other sessions took the cores the portal needed."""

    def __init__(self, web_pid: int, worker_pid: int, database: str):
        self.roots = {"client": (os.getpid(), False), "web": (web_pid, True), "worker": (worker_pid, True)}
        self.database = database
        self.start = self._sample()

    def _sample(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for side, (pid, with_children) in self.roots.items():
            totals[side] = _cpu_of(pid, with_children)
        totals["postgres"] = sum(_cpu_of(process.pid, False) for process in psutil.process_iter(["cmdline"])
                                 if self.database in " ".join(process.info["cmdline"] or ()))
        return totals

    def spent(self) -> str:
        now = self._sample()
        return " ".join(f"{side}={now[side] - self.start.get(side, 0.0):.1f}" for side in now)


def _cpu_of(pid: int, with_children: bool) -> float:
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)] if with_children else [root]
        total = 0.0
        for process in processes:
            times = process.cpu_times()
            total += times.user + times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def report(prefix: str, latencies: Latencies, wall: float) -> None:
    print(f"{prefix}_requests={len(latencies.seconds)}")
    print(f"{prefix}_errors_5xx={latencies.errors_5xx}")
    print(f"{prefix}_no_answer={latencies.transport_errors}")
    print(f"{prefix}_p50_ms={latencies.percentile_ms(0.50):.0f}")
    print(f"{prefix}_p99_ms={latencies.percentile_ms(0.99):.0f}")
    print(f"{prefix}_wall_s={wall:.1f}")
    print(f"{prefix}_requests_per_s={len(latencies.seconds) / wall:.0f}")
    h.log(f"{prefix}: {latencies.summary()}")


def measure(args, port: int, database_url: str, outbox: Path, cpu: Callable[[], CpuMeter]) -> None:
    intake = Latencies()
    visitors = [Visitor(n, port, intake, args.timeout) for n in range(args.submissions)]
    h.log(f"phase 1: {args.submissions} submissions, {args.concurrency} at a time")
    meter = cpu()
    done, failed, wall = run_bounded([v.file_request for v in visitors], args.concurrency,
                                     time.monotonic() + args.phase_seconds)
    received = [v for v in visitors if v.received_page]
    print(f"intake_submissions={args.submissions}")
    print(f"intake_received={len(received)}")
    print(f"intake_stored={stored_requests(database_url, {v.email for v in received})}")
    report("intake", intake, wall)
    h.log(f"phase 1 CPU seconds: {meter.spent()}")
    h.log(f"phase 1: {done} done, {failed} failed, {args.submissions - done - failed} not begun")

    chosen = received[:args.case_concurrency]
    h.log(f"phase 2: {len(chosen)} subjects prove their address and wait for their case to open (not timed)")
    setup = Latencies()
    mailbox = Mailbox(outbox)
    case_paths: dict[int, str] = {}
    setup_deadline = time.monotonic() + args.phase_seconds

    def prepare(index: int, visitor: Visitor) -> None:
        visitor.browser.latencies = setup
        case_paths[index] = open_case(visitor, mailbox, setup_deadline)

    run_bounded([lambda i=i, v=v: prepare(i, v) for i, v in enumerate(chosen)], 20, setup_deadline)
    ready = [(chosen[i], path) for i, path in sorted(case_paths.items())]
    h.log(f"phase 2: {len(ready)} cases open; {setup.summary()}")
    print(f"verification_errors_5xx={setup.errors_5xx}")  # code entries and polls while the lookups ran
    waited = time.perf_counter()
    left = wait_for_idle_worker(database_url, time.monotonic() + args.phase_seconds)
    h.log(f"phase 2: waited {time.perf_counter() - waited:.1f} s for the worker's backlog ({left} jobs left)")
    log_load("before phase 2")
    pages = Latencies()
    crowd = [CrowdBrowser(path, args.case_views, dict(visitor.browser.cookies)) for visitor, path in ready]
    meter = cpu()
    done, failed, wall = Crowd("127.0.0.1", port, pages, args.timeout).run(crowd, time.monotonic() + args.phase_seconds)
    h.log(f"phase 2 CPU seconds: {meter.spent()}")
    for problem in [browser.problem for browser in crowd if browser.problem][:5]:
        h.log(f"failed: {problem}")
    print(f"case_pages_browsers={len(ready)}")
    report("case_pages", pages, wall)
    h.log(f"phase 2: {done} browsers done, {failed} failed")


def main() -> None:
    default = os.environ.get("DSR_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=default,
                        help="a PostgreSQL server (its database part is ignored: the bench makes its own)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="a Redis server (no database number)")
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--case-concurrency", type=int, default=200)
    parser.add_argument("--case-views", type=int, default=10, help="case page views per subject in phase 2")
    parser.add_argument("--web-worker-class", choices=("gthread", "sync"), default="sync",
                        help="gunicorn's worker model: sync answers each request on its own connection (a "
                             "reverse proxy in front keeps the browsers' connections), gthread keeps them alive")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--worker-nice", type=int, default=10,
                        help="CPU niceness of the `flask dsr worker` (e.g. 10: on a shared host the pages go first)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds any one request may take")
    parser.add_argument("--phase-seconds", type=float, default=300.0, help="deadline of each phase")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (web.log, worker.log)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dsr-bench-load-"))
    database_url = redis_url = portal = web = None
    try:
        database_url = create_database(args.database_url)
        redis_url = claim_redis_database(args.redis_url)
        portal = h.Portal(portal_env(workdir, database_url, redis_url, args))
        portal.start_worker()
        lower_cpu_priority(portal.worker.pid, args.worker_nice)
        threads = args.web_threads if args.web_worker_class == "gthread" else 1
        web, port = h.start_gunicorn(portal.env, "--worker-class", args.web_worker_class,
                                     "--workers", str(args.web_workers), "--threads", str(threads))
        print(f"web=gunicorn {args.web_worker_class}, {args.web_workers} workers x {threads} threads")
        print(f"worker=1 flask dsr worker, nice {args.worker_nice} (process and scheduling group)")
        print(f"load_average_before={log_load('before')}")
        print(f"cpu_yardstick_ms={cpu_yardstick_ms():.0f}")
        database = sa.make_url(database_url).database
        measure(args, port, database_url, Path(portal.app.config["OUTBOX_DIR"]),
                lambda: CpuMeter(web.pid, portal.worker.pid, database))
        print(f"load_average_after={log_load('after')}")
    finally:
        if web:
            h.stop_process(web)
        if portal:
            portal.stop()
            get_db(portal.app).dispose()
        if database_url:
            drop_database(database_url)
        if redis_url:
            release_redis_database(redis_url)
        if args.keep:
            h.log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
