#!/usr/bin/env python3
"""Queue speed at scale: seed N cases (default 100,000) and time the queue's first page, a deep page,
a filtered page and a search, printing `name=value` lines, plus whether each query plan uses an index.

    .venv/bin/python bench/queue.py                                   # SQLite file in a temp folder
    .venv/bin/python bench/queue.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/dsr_bench

The PostgreSQL database must be an empty scratch database (it is migrated, filled and left filled
unless --drop is given). Most seeded cases are closed, as in a real register after a few years.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py, like the standard library module redis imports: run as a script, its
# folder must not shadow it, and the repository root must be importable.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from dsr import create_app  # noqa: E402
from dsr.cases.decisions import OPEN_STATUSES  # noqa: E402
from dsr.cases.queue import Cursor, QueueFilter, queue_page, status_page_query  # noqa: E402
from dsr.db import Base, get_db  # noqa: E402
from dsr.migrate import upgrade  # noqa: E402
from dsr.models import RequestStatus, Right, SubjectRequest  # noqa: E402

CLOSED = (RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.WITHDRAWN, RequestStatus.EXPIRED)


def seed(session, count: int, today: date, open_share: float = 0.08, rng: random.Random | None = None) -> int:
    rng = rng or random.Random(7)
    rights = list(Right)
    now = datetime.now(UTC)
    batch, opened = [], 0
    for n in range(count):
        is_open = rng.random() < open_share
        opened += is_open
        deadline = today + timedelta(days=rng.randint(-5, 60) if is_open else -rng.randint(10, 1500))
        received = datetime.combine(deadline - timedelta(days=31), datetime.min.time(), tzinfo=UTC)
        batch.append(
            {
                "public_id": secrets.token_urlsafe(16),
                "reference": f"DSR-{n // 10000:04d}-{n % 10000:04d}",
                "right": rng.choice(rights).value,
                "status": (rng.choice(OPEN_STATUSES) if is_open else rng.choice(CLOSED)).value,
                "channel": "web",
                "language": "nb",
                "email": f"subject{n}@example.org",
                "details": {},
                "received_at": received,
                "due_on": deadline,
                "extension_notice_due_on": deadline,
                "extended_due_on": deadline + timedelta(days=61),
                "deadline_on": deadline,
                "step_up_required": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(batch) == 5000:
            session.execute(sa.insert(SubjectRequest), batch)
            batch = []
    if batch:
        session.execute(sa.insert(SubjectRequest), batch)
    session.commit()
    return opened


def timed(function, repeat: int = 7) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 2)


def plan(session, statement) -> str:
    bind = session.get_bind()
    sql = str(statement.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN" if bind.dialect.name == "sqlite" else "EXPLAIN"
    rows = session.execute(sa.text(f"{prefix} {sql}")).all()
    return " | ".join(str(row[-1]) for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="an empty scratch PostgreSQL (or SQLite) database")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--drop", action="store_true", help="drop the tables again afterwards")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(folder),
            "DATABASE_URL": url,
            "REDIS_URL": "unix:///nonexistent",
            "SECRET_KEY": secrets.token_urlsafe(32),
        }
    )
    upgrade(app)
    engine = get_db(app).engine
    today = date.today()
    with app.app_context(), get_db(app).session() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)):
            print("error: the database already holds cases; give an empty scratch database", file=sys.stderr)
            return 2
        started = time.perf_counter()
        opened = seed(session, args.cases, today)
        print(f"backend={engine.dialect.name}")
        print(f"cases={args.cases}")
        print(f"open_cases={opened}")
        print(f"seed_seconds={time.perf_counter() - started:.1f}")
        session.execute(sa.text("ANALYZE"))
        session.commit()

        everything = QueueFilter()
        first = queue_page(session, everything, today=today)
        cursor = first.next_cursor
        depth = 1
        while cursor is not None and depth < int(opened * 0.9 / 50):  # walk to about 90 % of the open cases
            cursor = queue_page(session, everything, today=today, after=cursor).next_cursor
            depth += 1
        deep_cursor = cursor or Cursor(today, 0)
        print(f"first_page_rows={len(first.rows)}")
        print(f"first_page_ms={timed(lambda: queue_page(session, everything, today=today))}")
        print(f"deep_page_number={depth + 1}")
        print(
            f"deep_page_ms={timed(lambda: queue_page(session, everything, today=today, after=deep_cursor))}"
        )
        erasure = QueueFilter(right=Right.ERASURE)
        print(f"filtered_page_ms={timed(lambda: queue_page(session, erasure, today=today))}")
        overdue = QueueFilter(overdue=True)
        print(f"overdue_page_ms={timed(lambda: queue_page(session, overdue, today=today))}")
        search = QueueFilter(search=f"subject{args.cases // 2}@example.org")
        print(f"search_email_ms={timed(lambda: queue_page(session, search, today=today))}")
        by_reference = QueueFilter(search="DSR-0004-0242")
        print(f"search_reference_ms={timed(lambda: queue_page(session, by_reference, today=today))}")
        first_plan = plan(session, status_page_query(RequestStatus.OPEN, everything, today, None, 51))
        deep_plan = plan(session, status_page_query(RequestStatus.OPEN, everything, today, deep_cursor, 51))
        print(f"plan_first_page={first_plan}")
        print(f"plan_deep_page={deep_plan}")
        used = all("ix_subject_requests_status_deadline" in p for p in (first_plan, deep_plan))
        print(f"index_used={int(used)}")
    if args.drop:
        Base.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    return 0 if used else 1


if __name__ == "__main__":
    sys.exit(main())
