"""Peer comparison: the dataset Ethyca Fides was measured on, as one `sql` system; access and erasure timed.

    .venv/bin/python bench/peer.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/dsr_bench_peer]

Loads ../shared/bench-data/peer_dataset.sql (N = 100,000 rows per table) into PostgreSQL with psql,
declares it as one sql system of a private portal (its own PostgreSQL database, an embedded Redis,
one real `flask dsr worker`, and `gunicorn app:app` as the web side), and times approval -> bundle
ready for the standard subject (122 rows) and, after the file header's UPDATE, the big subject
(10,022 rows): median of 10 each. Then erasure, from the approval to the case completed (planned,
applied, proven, the outcome letter queued), for the same two subjects; the data map clears the fields
Fides nulls on the same data (customer e-mail, name, phone, address; order shipping address; invoice
billing name and address; ticket e-mail and body; the newsletter address), with no hold, and the portal
applies plans without review (DSR_ACTIONS_AUTO_APPLY). Before each erasure run the subject's values are
put back (outside the clock). The approval is a logged-in officer's POST of the case page's Approve form
to gunicorn; the clock starts before the POST. rss_mb is the peak of the summed RSS of
the web process tree (gunicorn master and worker) and the worker with its children, sampled every
50 ms (`--web inline`: this process approves instead, and it is counted as the web side). Prints
name=value lines; logs go to stderr.
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
import os
import shutil
import statistics
import subprocess
import tempfile

import sqlalchemy as sa

from bench import _harness as h

DATASET = h.REPO.parent / "shared" / "bench-data" / "peer_dataset.sql"
SUBJECT = "subject@example.com"
BIG_SUBJECT = """
UPDATE orders SET customer_id=1, shipping_address='1 Target Road, Springfield' WHERE id<=5000;
UPDATE invoices SET customer_id=1, billing_name='Target Subject', billing_address='1 Target Road, Springfield'
  WHERE order_id<=5000;
ANALYZE;
"""
#: the subject's values back, before each erasure run (outside the clock)
RESTORE_SUBJECT = """
UPDATE customer SET email='subject@example.com', name='Target Subject', phone='+1-555-0000001',
  address='1 Target Road, Springfield' WHERE id=1;
UPDATE orders SET shipping_address='1 Target Road, Springfield' WHERE customer_id=1;
UPDATE invoices SET billing_name='Target Subject', billing_address='1 Target Road, Springfield' WHERE customer_id=1;
UPDATE support_tickets SET customer_email='subject@example.com', body='Hello, this is Target Subject (phone '
  || '+1-555-0000001). Ticket body number ' || id || '. ' || repeat('lorem ipsum ', 20) WHERE id<=20;
UPDATE newsletter_subscriptions SET email='subject@example.com' WHERE id=1;
"""

SYSTEM = '''
[[systems]]
key = "shop"
name = "Peer dataset shop"
kind = "sql"
url = "{url}"
phone_region = "US"

[[systems.tables]]
name = "customer"
identity = {{ email = "email" }}
contact_columns = {{ phone = "phone" }}
match = "exact"
default_origin = "provided"
erasure = "anonymise"
fields.email = {{ origin = "provided", erasure = "null" }}
fields.name = {{ origin = "provided", erasure = "null" }}
fields.phone = {{ origin = "provided", erasure = "null" }}
fields.address = {{ origin = "provided", erasure = "null" }}

[[systems.tables]]
name = "orders"
links = [{{ column = "customer_id", to = "customer.id" }}]
erasure = "anonymise"
fields.shipping_address = {{ origin = "provided", erasure = "null" }}

[[systems.tables]]
name = "invoices"
links = [{{ column = "customer_id", to = "customer.id" }}]
erasure = "anonymise"
fields.billing_name = {{ origin = "provided", erasure = "null" }}
fields.billing_address = {{ origin = "provided", erasure = "null" }}

[[systems.tables]]
name = "support_tickets"
identity = {{ email = "customer_email" }}
match = "exact"
default_origin = "provided"
erasure = "anonymise"
fields.customer_email = {{ origin = "provided", erasure = "null" }}
fields.body = {{ origin = "provided", erasure = "null" }}

[[systems.tables]]
name = "newsletter_subscriptions"
identity = {{ email = "email" }}
match = "exact"
erasure = "anonymise"
fields.email = {{ origin = "observed", erasure = "null" }}

[systems.facts]
purposes = ["Selling and support"]
legal_basis = "Contract (Art. 6(1)(b))"
categories = ["Contact details", "Orders", "Invoices", "Support tickets"]
recipients = ["None"]
retention = "5 years"
source = "You"
'''


def libpq(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    parsed = sa.make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    admin.dispose()


def psql(url: str, *args: str) -> None:
    subprocess.run(["psql", libpq(url), "-q", "-v", "ON_ERROR_STOP=1", *args], check=True,
                   stdout=subprocess.DEVNULL)


def subject_rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        total = connection.exec_driver_sql(
            "SELECT (SELECT count(*) FROM customer WHERE email = %(e)s) + (SELECT count(*) FROM orders WHERE "
            "customer_id = 1) + (SELECT count(*) FROM invoices WHERE customer_id = 1) + (SELECT count(*) FROM "
            "support_tickets WHERE customer_email = %(e)s) + (SELECT count(*) FROM newsletter_subscriptions WHERE "
            "email = %(e)s)", {"e": SUBJECT}).scalar()
    engine.dispose()
    return total


def timed_runs(portal, runs: int, web) -> list[float]:
    seconds = []
    for _ in range(runs):
        elapsed, request_id = h.approve_and_wait(portal.app, SUBJECT, web=web)
        seconds.append(elapsed)
        h.log(f"  {elapsed * 1000:.0f} ms: {h.phases(portal.app, request_id)}")
    return seconds


def timed_erasures(portal, runs: int, web, url: str, big: bool) -> list[float]:
    seconds = []
    for _ in range(runs):
        psql(url, "-c", RESTORE_SUBJECT + (BIG_SUBJECT if big else ""))
        elapsed, request_id = h.approve_and_wait(portal.app, SUBJECT, right="erasure", web=web, until="completed")
        seconds.append(elapsed)
        h.log(f"  erasure {elapsed * 1000:.0f} ms: {h.action_phases(portal.app, request_id)}")
    return seconds


def main() -> None:
    default = os.environ.get("DSR_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=str(sa.make_url(default).set(database="dsr_bench_peer")
                                                       .render_as_string(hide_password=False)))
    parser.add_argument("--portal-database-url", default=None,
                        help="the portal's own database (default: dsr_bench_portal on the same server)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--web", choices=("gunicorn", "inline"), default="gunicorn",
                        help="approve through the staff page of a gunicorn process (default), or in this process")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (worker.log)")
    args = parser.parse_args()
    portal_url = args.portal_database_url or str(sa.make_url(args.database_url).set(database="dsr_bench_portal")
                                                 .render_as_string(hide_password=False))
    workdir = Path(tempfile.mkdtemp(prefix="dsr-bench-peer-"))
    portal = web = None
    try:
        h.log("loading the peer dataset (N = 100,000)...")
        recreate_database(args.database_url)
        psql(args.database_url, "-v", "N=100000", "-f", str(DATASET))
        recreate_database(portal_url)
        systems = workdir / "systems.toml"
        example = (h.REPO / "instance" / "systems.example.toml").read_text().split("[[systems]]")[0]
        systems.write_text(example + SYSTEM.format(url=args.database_url))
        portal = h.Portal({**h.portal_config(workdir / "instance", systems, portal_url),
                           "DSR_ACTIONS_AUTO_APPLY": "true"})
        portal.start_worker()
        if args.web == "gunicorn":
            web = h.WebServer(portal)
            sampler = h.RssSampler([portal.worker.pid, web.process.pid])
        else:
            web = None  # this process approves, standing in for the web process
            sampler = h.RssSampler([portal.worker.pid], alone=(os.getpid(),))
        h.log(f"web side: {args.web}")
        sampler.start()
        h.approve_and_wait(portal.app, SUBJECT, web=web)  # warm-up: first connections, template compilation
        h.log(f"standard subject: {subject_rows(args.database_url)} rows")
        small = timed_runs(portal, args.runs, web)
        psql(args.database_url, "-c", BIG_SUBJECT)
        h.log(f"big subject: {subject_rows(args.database_url)} rows")
        big = timed_runs(portal, args.runs, web)
        h.log("erasure, standard subject")
        psql(args.database_url, "-c", RESTORE_SUBJECT + "UPDATE orders SET customer_id = 2 + (id % 99999) "
             "WHERE id > 50 AND customer_id = 1; UPDATE invoices SET customer_id = orders.customer_id FROM orders "
             "WHERE invoices.order_id = orders.id AND invoices.customer_id = 1 AND orders.id > 50; ANALYZE;")
        h.approve_and_wait(portal.app, SUBJECT, right="erasure", web=web, until="completed")  # warm-up
        erase_small = timed_erasures(portal, args.runs, web, args.database_url, big=False)
        h.log("erasure, big subject")
        erase_big = timed_erasures(portal, args.runs, web, args.database_url, big=True)
        peak = sampler.stop()
        print(f"access_small_s={statistics.median(small):.3f}")
        print(f"access_big_s={statistics.median(big):.3f}")
        print(f"erasure_small_s={statistics.median(erase_small):.3f}")
        print(f"erasure_big_s={statistics.median(erase_big):.3f}")
        print(f"rss_mb={peak / 1e6:.0f}")
    finally:
        if web:
            web.stop()
        if portal:
            portal.stop()
            from dsr.db import get_db

            get_db(portal.app).dispose()
        if args.keep:
            h.log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
