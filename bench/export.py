"""Export benchmark: one subject owning N rows of a 1,000,000-row SQL system, exported by the real job.

    .venv/bin/python bench/export.py --rows 100000 [--database-url postgresql+psycopg://...]

Builds the synthetic system (customers, orders, events), declares it as the only `sql` system of a
private portal instance, approves an access request and times approval -> bundle ready with a
real `flask dsr worker` process; samples the summed RSS of the worker and its children every
50 ms; then lets the database dump the same rows as CSV itself (`sqlite3 -csv` / `COPY ... TO
STDOUT`). Prints name=value lines; logs go to stderr.
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
import shutil
import subprocess
import tempfile
import time

import sqlalchemy as sa

from bench import _harness as h

TOTAL = 1_000_000
SUBJECT = "bench.subject@example.no"

SYSTEM = '''
[[systems]]
key = "synthetic"
name = "Synthetic shop"
kind = "sql"
url = "{url}"

[[systems.tables]]
name = "customers"
identity = {{ email = "email" }}
match = "exact"
fields.name = "provided"
fields.email = "provided"

[[systems.tables]]
name = "orders"
links = [{{ column = "customer_id", to = "customers.id" }}]
fields.shipping_address = "provided"

[[systems.tables]]
name = "events"
links = [{{ column = "order_id", to = "orders.id" }}]

[systems.facts]
purposes = ["Selling"]
legal_basis = "Contract (Art. 6(1)(b))"
categories = ["Orders", "Events"]
recipients = ["None"]
retention = "5 years"
source = "You"
'''


def plan(rows: int) -> dict[str, tuple[int, int]]:
    """(subject's rows, others' rows) per table, adding up to TOTAL."""
    orders = max(1, rows // 10)
    subject = {"customers": 1, "orders": orders, "events": rows - 1 - orders}
    rest = TOTAL - rows
    other_customers = max(1, rest // 100) if rest > 0 else 0
    other_orders = (rest - other_customers) // 10 if rest > 0 else 0
    others = {"customers": other_customers, "orders": other_orders,
              "events": max(0, rest - other_customers - other_orders)}
    return {k: (subject[k], others[k]) for k in subject}


def build(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    counts = plan(rows)
    h.log(f"building the synthetic system: {counts}")
    started = time.monotonic()
    with engine.begin() as connection:
        for table in ("events", "orders", "customers"):
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        connection.exec_driver_sql("CREATE TABLE customers (id BIGINT PRIMARY KEY, email TEXT, name TEXT, "
                                   "phone TEXT, created_at TEXT)")
        connection.exec_driver_sql("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT, status TEXT, "
                                   "total TEXT, shipping_address TEXT, ordered_at TEXT)")
        connection.exec_driver_sql("CREATE TABLE events (id BIGINT PRIMARY KEY, order_id BIGINT, kind TEXT, "
                                   "url TEXT, user_agent TEXT, at TEXT)")
    other_customers = counts["customers"][1]
    (subject_orders, other_orders) = counts["orders"]
    (subject_events, other_events) = counts["events"]

    def customers():
        yield (1, SUBJECT, "Bench Subject", "+47 912 34 567", "2023-01-01T10:00:00")
        for i in range(2, other_customers + 2):
            yield (i, f"user{i}@example.no", f"Kunde {i}", None, "2023-02-01T10:00:00")

    def orders():
        for i in range(1, subject_orders + 1):
            yield (i, 1, "shipped", f"{i % 900 + 99}.00", "Storgata 1, 0150 Oslo", "2024-03-01T12:00:00")
        for i in range(subject_orders + 1, subject_orders + other_orders + 1):
            yield (i, 2 + i % max(1, other_customers), "shipped", "10.00", "Kirkegata 2, 5003 Bergen",
                   "2024-03-02T12:00:00")

    def events():
        for i in range(1, subject_events + 1):
            yield (i, 1 + i % subject_orders, "page_view", f"/produkter/{i % 977}", "Mozilla/5.0 (X11; Linux)",
                   "2024-03-01T12:01:00")
        first_other = subject_orders + 1
        for i in range(subject_events + 1, subject_events + other_events + 1):
            yield (i, first_other + i % max(1, other_orders), "page_view", "/", "Mozilla/5.0", "2024-03-02T12:01:00")

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        postgres = engine.dialect.name == "postgresql"
        for table, source in (("customers", customers()), ("orders", orders()), ("events", events())):
            if postgres:
                with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in source:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * 6 if table != "customers" else "?" * 5)
                cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", source)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE INDEX ix_customers_email ON customers (email)")
        connection.exec_driver_sql("CREATE INDEX ix_orders_customer ON orders (customer_id)")
        connection.exec_driver_sql("CREATE INDEX ix_events_order ON events (order_id)")
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    h.log(f"built in {time.monotonic() - started:.1f}s")


DUMP_QUERIES = [
    "SELECT * FROM customers WHERE email = 'bench.subject@example.no' ORDER BY id",
    ("SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE email = 'bench.subject@example.no') "
     "ORDER BY id"),
    ("SELECT * FROM events WHERE order_id IN (SELECT id FROM orders WHERE customer_id IN "
     "(SELECT id FROM customers WHERE email = 'bench.subject@example.no')) ORDER BY id"),
]


def dump_seconds(url: str, out: Path) -> tuple[float, str]:
    parsed = sa.make_url(url)
    started = time.perf_counter()
    if parsed.get_backend_name() == "sqlite":
        if shutil.which("sqlite3"):
            with open(out, "wb") as handle:
                for query in DUMP_QUERIES:
                    subprocess.run(["sqlite3", "-csv", "-header", parsed.database, query], stdout=handle, check=True)
            how = "sqlite3 -csv (Debian's sqlite3 CLI)"
        else:
            import csv
            import sqlite3

            connection = sqlite3.connect(parsed.database)
            with open(out, "w", newline="") as handle:
                writer = csv.writer(handle)
                for query in DUMP_QUERIES:
                    cursor = connection.execute(query)
                    writer.writerow([c[0] for c in cursor.description])
                    writer.writerows(cursor)
            how = "Python sqlite3 module writing CSV (no sqlite3 CLI found)"
    else:
        libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with open(out, "wb") as handle:
            for query in DUMP_QUERIES:
                subprocess.run(["psql", libpq, "-q", "-c", f"COPY ({query}) TO STDOUT WITH CSV HEADER"],
                               stdout=handle, check=True)
        how = "psql COPY ... TO STDOUT WITH CSV"
    return time.perf_counter() - started, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows the subject owns (of 1,000,000)")
    parser.add_argument("--database-url", default=None, help="where the synthetic system lives (default: SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if not 2 <= args.rows <= TOTAL:
        parser.error(f"--rows must be between 2 and {TOTAL}")
    workdir = Path(tempfile.mkdtemp(prefix="dsr-bench-export-"))
    url = args.database_url or f"sqlite:///{workdir / 'synthetic.sqlite3'}"
    portal = None
    try:
        build(url, args.rows)
        systems = workdir / "systems.toml"
        example = (h.REPO / "instance" / "systems.example.toml").read_text().split("[[systems]]")[0]
        systems.write_text(example + SYSTEM.format(url=url))
        portal = h.Portal(h.portal_config(workdir / "instance", systems))
        portal.start_worker()
        sampler = h.RssSampler([portal.worker.pid])
        sampler.start()
        seconds, request_id = h.approve_and_wait(portal.app, SUBJECT)
        peak = sampler.stop()
        h.log(h.phases(portal.app, request_id))
        dump, how = dump_seconds(url, workdir / "dump.csv")
        h.log(f"dump by the database: {how}")
        print(f"rows={args.rows}")
        print(f"seconds={seconds:.3f}")
        print(f"rows_per_second={args.rows / seconds:.0f}")
        print(f"peak_worker_rss_mb={peak / 1e6:.1f}")
        print(f"dump_seconds={dump:.3f}")
        print(f"ratio_to_dump={seconds / dump:.2f}")
    finally:
        if portal:
            portal.stop()
        if args.keep:
            h.log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
