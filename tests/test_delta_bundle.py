"""A repeat access request answered with what changed since the last answer: at release the records are kept
comparable as keyed digests (never their content); the next answer to the same verified subject may hold
only new and changed records and the count of removed ones. Real jobs, staff through the real pages."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.db import get_db
from dsr.models import ExportBundle, RecordDigest
from tests.helpers.bundles import (
    archive_of,
    bundles_of,
    officer_client,
    page_text,
    records,
    released,
    verified_case,
)
from tests.helpers.export import KARI, approve
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import text_of
from tests.helpers.systems import system, write_systems

SHOP = system(
    key="shop", name="Web shop", kind="sql", url="sqlite:///{instance}/shop.sqlite3",
    tables=[{"name": "customers", "identity": {"email": "email"}},
            {"name": "orders", "links": [{"column": "customer_id", "to": "customers.id"}]}],
)


@pytest.fixture
def shop(app_config, tmp_path):
    """An app whose one system is a small shop database; yields (app, path of the database)."""
    path = tmp_path / "instance" / "shop.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT);"
                     "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, item TEXT, status TEXT);")
    db.execute("INSERT INTO customers VALUES (1, ?, 'Kari Nordmann')", (KARI,))
    db.executemany("INSERT INTO orders VALUES (?, 1, ?, 'paid')", [(10, "Kurs"), (11, "Bok"), (12, "Kopp")])
    db.execute("INSERT INTO customers VALUES (2, 'ola@example.no', 'Ola')")
    db.commit()
    db.close()
    app_config["SYSTEMS_FILE"] = str(write_systems(tmp_path / "config", SHOP))
    app = create_app(app_config)
    yield app, path
    get_db(app).dispose()


def _answered(app, session, staff_id: int, email: str = KARI):
    case = verified_case(app, session, email)
    approve(session, case)
    run_jobs(app)
    return case


def _change_the_orders(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("UPDATE orders SET status = 'refunded' WHERE id = 11")  # changed
    db.execute("DELETE FROM orders WHERE id = 12")  # removed
    db.execute("INSERT INTO orders VALUES (13, 1, 'Genser', 'paid')")  # new
    db.commit()
    db.close()


def test_a_repeat_request_answered_with_a_delta_bundle_holds_only_the_changed_records(smtp, shop):
    app, path = shop
    with app.app_context(), get_db(app).session() as session:
        staff = officer_client(app, session)
        first = _answered(app, session, staff.user.id)
        released(app, session, first.id, staff.user.id)
        kept = session.scalars(sa.select(RecordDigest)).all()
        assert len(kept) == 4 and {d.collection for d in kept} == {"customers", "orders"}
        assert not any("Kari" in d.key_digest + d.content_digest for d in kept)  # hashes, never the content
        assert not any(Path(app.config["STORAGE_DIR"]).glob(f"spool/r{first.id}/*"))  # the spools are gone

        _change_the_orders(path)
        second = _answered(app, session, staff.user.id)
        page = staff.get(f"/staff/cases/{second.id}").get_data(as_text=True)
        assert "A repeat request" in page and "Answer with only the changes since" in page
        full = archive_of(session, bundles_of(session, second.id)[0], staff.user.id)
        assert [o["id"] for o in records(full, "data/shop/orders.json")] == [10, 11, 13]  # full by default

        assert staff.post(f"/staff/cases/{second.id}/bundle/answer", data={"scope": "delta"}).status_code == 302
        run_jobs(app)
        bundle = bundles_of(session, second.id)[0]
        assert bundle.changes_since_request_id == first.id
        delta = archive_of(session, bundle, staff.user.id)
        assert [(o["id"], o["status"]) for o in records(delta, "data/shop/orders.json")] == [
            (11, "refunded"), (13, "paid")]
        assert "data/shop/customers.json" not in delta.namelist()  # unchanged
        changes = json.loads(delta.read("changes.json"))["systems"][0]["collections"]
        assert changes == {"customers": {"new": 0, "changed": 0, "removed": 0},
                           "orders": {"new": 1, "changed": 1, "removed": 1}}
        assert "Changes since" in page_text(delta, "changes.html")
        assert "This answer holds what changed since our answer of" in page_text(delta, "index.html")

        released(app, session, second.id, staff.user.id)
        letter = text_of(smtp.wait_for(KARI, count=2)[-1])
        assert "this answer holds the records that are new or changed since then" in letter


def test_a_delta_answer_is_refused_without_an_earlier_answer_of_the_same_subject(shop):
    app, _path = shop
    with app.app_context(), get_db(app).session() as session:
        staff = officer_client(app, session)
        released(app, session, _answered(app, session, staff.user.id, "ola@example.no").id, staff.user.id)
        case = _answered(app, session, staff.user.id)
        bundle = bundles_of(session, case.id)[0]
        refused = staff.post(f"/staff/cases/{case.id}/bundle/answer", data={"scope": "delta"},
                             follow_redirects=True)
        assert "The subject has no earlier access answer to compare with." in refused.get_data(as_text=True)
        session.expire_all()
        again = session.get(ExportBundle, bundle.id)
        assert (again.changes_since_request_id, again.sha256) == (None, bundle.sha256)


def test_taking_the_full_answer_back_assembles_everything_again(shop):
    app, path = shop
    with app.app_context(), get_db(app).session() as session:
        staff = officer_client(app, session)
        released(app, session, _answered(app, session, staff.user.id).id, staff.user.id)
        _change_the_orders(path)
        case = _answered(app, session, staff.user.id)
        staff.post(f"/staff/cases/{case.id}/bundle/answer", data={"scope": "delta"})
        run_jobs(app)
        staff.post(f"/staff/cases/{case.id}/bundle/answer", data={"scope": "full"})
        run_jobs(app)
        archive = archive_of(session, bundles_of(session, case.id)[0], staff.user.id)
        assert [o["id"] for o in records(archive, "data/shop/orders.json")] == [10, 11, 13]
        assert "changes.json" not in archive.namelist()
