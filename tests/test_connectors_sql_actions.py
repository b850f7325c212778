"""The sql kind's actions, connector by connector (plan -> apply -> prove) on small purpose-built databases:
erasure with its per-field and per-table rules, legal holds and what they keep, rectification, restriction
and its lift, stopping a declared processing. On SQLite, and on PostgreSQL in the server pass; the declared
FOREIGN KEYs are enforced on both (tests/helpers/sqldb.py)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from dsr.connectors import sql_rows
from dsr.connectors.base import Action, Identity, PermanentConnectorError, Plan
from tests.helpers.sqldb import system_database

TODAY = date(2026, 12, 6)
PER, ANNE = "per@example.no", "anne@example.no"

SHOP_SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, name TEXT, phone TEXT,
                        nickname TEXT, segment TEXT, restricted BOOLEAN NOT NULL DEFAULT FALSE, created_on DATE,
                        do_not_contact INTEGER NOT NULL DEFAULT 0);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id),
                     ordered_on DATE, total_cents INTEGER, shipping_address TEXT);
CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id), item TEXT,
                          gift_message TEXT);
CREATE TABLE consents (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id),
                       purpose TEXT NOT NULL, withdrawn_at TIMESTAMP WITH TIME ZONE);
CREATE TABLE suppressed (customer_id INTEGER PRIMARY KEY)
"""


def _rule(erasure: str, origin: str = "provided", **more) -> dict:
    """One column of a data map: `fields.<column> = { origin, erasure, ... }`."""
    return {"origin": origin, "erasure": erasure, **more}


CUSTOMERS = {"name": "customers", "identity": {"email": "email"}, "restriction": {"flag_column": "restricted"},
             "fields": {"name": _rule("delete_row", rectify=True), "phone": _rule("delete_row", rectify=True)}}
ORDERS = {"name": "orders", "links": [{"column": "customer_id", "to": "customers.id"}]}
LINES = {"name": "order_lines", "links": [{"column": "order_id", "to": "orders.id"}]}
CONSENTS = {"name": "consents", "links": [{"column": "customer_id", "to": "customers.id"}]}
PROCESSING = [
    {"key": "newsletter", "name": "The newsletter", "bases": ["consent", "direct_marketing"], "table": "consents",
     "where": {"purpose": "newsletter"}, "set": {"withdrawn_at": "{now}"}},
    {"key": "sms_offers", "name": "Offers by SMS", "bases": ["consent"], "table": "consents",
     "where": {"purpose": "sms"}, "delete": True},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    with system_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
def shop_db(db):
    """Per has two accounts (1 and 3, one address in two spellings); Anne's rows must never change."""
    db.script(SHOP_SCHEMA)
    db.insert("customers", [(1, PER, "Per Hansen", "+4791234567", "perry", "vip", "2024-01-10"),
                            (2, ANNE, "Anne Berg", "+4790000002", "anne", "new", "2024-02-01"),
                            (3, "Per@Example.NO", "Per H.", None, "ph", "new", "2019-05-01")],
              "id email name phone nickname segment created_on")
    db.insert("orders", [(10, 1, "2025-01-15", 49900, "Storgata 1"), (11, 3, "2019-06-01", 12000, "Storgata 1"),
                         (20, 2, "2025-02-01", 30000, "Fjordveien 2")],
              "id customer_id ordered_on total_cents shipping_address")
    db.insert("order_lines", [(100, 10, "Bok", "Gratulerer, Per!"), (101, 10, "Kart", None),
                              (102, 11, "Penn", "Til Per"), (200, 20, "Bok", "Til Anne")],
              "id order_id item gift_message")
    db.insert("consents", [(1, 1, "newsletter", None), (2, 1, "sms", None), (4, 2, "newsletter", None),
                           (3, 3, "newsletter", "2025-05-01T10:00:00+00:00"), (5, 1, "events", None)],
              "id customer_id purpose withdrawn_at")
    return db


def _anne(db) -> list[list[tuple]]:
    return [db.rows("customers", "id = 2"), db.rows("orders", "customer_id = 2"),
            db.rows("order_lines", "order_id = 20"), db.rows("consents", "customer_id = 2")]


def _done(connector, ref, plan: Plan, changed: int) -> None:
    """Applied as planned: `changed` rows, a second apply changes nothing, and the proof passes both times."""
    assert connector.apply(ref, Plan.from_json(plan.to_json())) == changed  # as stored on the task
    proof = connector.prove(ref, plan)
    assert proof.ok and proof.problems == [], proof.problems
    assert connector.apply(ref, plan) == 0 and connector.prove(ref, plan).ok


def test_erasure_deletes_the_subjects_rows_children_before_parents_and_nothing_else(shop_db):
    with pytest.raises(sa.exc.IntegrityError):  # the foreign keys are enforced: parents cannot go first
        with shop_db.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM orders WHERE id = 10")
    anne = _anne(shop_db)
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS])
    ref = shop.locate(Identity(email=PER))
    assert ref.keys == {"customers.id": [1, 3]}
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    done = [(c.collection, c.operation, c.keys) for c in plan.changes]
    assert sorted(done) == [("consents", "delete", [1, 2, 3, 5]), ("customers", "delete", [1, 3]),
                            ("order_lines", "delete", [100, 101, 102]), ("orders", "delete", [10, 11])]
    order = [collection for collection, _, _ in done]
    assert order.index("order_lines") < order.index("orders") < order.index("customers")
    assert order.index("consents") < order.index("customers") and plan.kept == []
    assert not shop.prove(ref, plan).ok  # nothing done yet
    _done(shop, ref, plan, changed=11)
    assert shop.prove(ref, plan).found == {"customers": 0, "orders": 0, "order_lines": 0, "consents": 0}
    assert shop_db.value("SELECT count(*) FROM customers") == 1 and _anne(shop_db) == anne
    assert not shop.locate(Identity(email=PER)).found


def test_erasure_nulls_and_masks_exactly_the_declared_fields_and_anonymise_keeps_the_rows(shop_db):
    anne = _anne(shop_db)
    customers = {**CUSTOMERS, "erasure": "anonymise",
                 "fields": {"email": _rule("mask"), "nickname": _rule("mask"), "name": _rule("null"),
                            "phone": _rule("null"), "segment": _rule("delete_row", "derived")}}
    orders = {**ORDERS, "erasure": "anonymise",
              "fields": {"shipping_address": _rule("null"), "ordered_on": _rule("mask")}}  # only text takes a mask
    lines = {**LINES, "erasure": "null", "fields": {"gift_message": _rule("mask")}}
    shop = shop_db.connector(tables=[customers, orders, lines, CONSENTS])
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    assert {(c.collection, c.operation, tuple(c.fields), tuple(c.keys)) for c in plan.changes} == {
        ("customers", "null", ("name", "phone"), (1, 3)), ("customers", "mask", ("email", "nickname"), (1, 3)),
        ("orders", "null", ("ordered_on", "shipping_address"), (10, 11)),
        ("order_lines", "null", ("item",), (100, 101, 102)),
        ("order_lines", "mask", ("gift_message",), (100, 101, 102)),
        ("consents", "delete", (), (1, 2, 3, 5))}
    _done(shop, ref, plan, changed=2 + 2 + 3 + 4)
    rows = shop_db.rows("customers", "id IN (1, 3)")
    assert [row[:5] for row in rows] == [(1, "erased-1", None, None, "erased-1"),
                                         (3, "erased-3", None, None, "erased-3")]
    assert [row[5] for row in rows] == ["vip", "new"]  # anonymised: what is not declared null or mask stays
    assert shop_db.rows("orders", "id IN (10, 11)") == [(10, 1, None, 49900, None), (11, 3, None, 12000, None)]
    assert shop_db.rows("order_lines", "id < 200") == [(100, 10, None, "erased-100"), (101, 10, None, "erased-101"),
                                                      (102, 11, None, "erased-102")]
    for old in ("per", "example", "ph"):  # irreversible: nothing of the old value (nor of its hash)
        assert not any(old in value.lower() for row in rows for value in (row[1], row[4]))
    assert _anne(shop_db) == anne and not shop.locate(Identity(email=PER)).found


ACCOUNTING_SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT, address TEXT, phone TEXT,
                        credit_rating TEXT, customer_since DATE);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id),
                       issued_on DATE NOT NULL, amount_cents INTEGER);
CREATE TABLE invoice_lines (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoices (id),
                            item TEXT, amount_cents INTEGER)
"""
BOOKKEEPING = {"key": "bookkeeping", "ground": "Bokføringsloven § 13: 5 years after the financial year",
               "ground_nb": "Bokføringsloven § 13: 5 år etter regnskapsårets slutt",
               "years_after_financial_year_end": 5}
ACCOUNTING = dict(tables=[
    {"name": "customers", "identity": {"email": "email"}, "erasure": "keep", "hold": "bookkeeping",
     "hold_date_from": "invoices.issued_on",
     "fields": {"id": _rule("keep", "observed"), "customer_since": _rule("keep", "observed"), "name": _rule("keep"),
                "address": _rule("keep"), "credit_rating": _rule("delete_row", "derived"), "phone": _rule("null")}},
    {"name": "invoices", "links": [{"column": "customer_id", "to": "customers.id"}], "erasure": "keep",
     "hold": "bookkeeping", "hold_date_column": "issued_on"},
    {"name": "invoice_lines", "links": [{"column": "invoice_id", "to": "invoices.id"}], "erasure": "keep",
     "hold": "bookkeeping"},
], holds=[BOOKKEEPING])


@pytest.fixture
def accounting(db):
    """Kari: an invoice past its hold (2019), two under it (2022, 2023). Ola: only an expired one. Nils: none."""
    db.script(ACCOUNTING_SCHEMA)
    emails = ["kari@example.no", "ola@example.no", ANNE, "nils@example.no"]
    db.insert("customers", [(i, email, email.split("@")[0].title(), "Storgata 1", "+4790000000", "A")
                            for i, email in enumerate(emails, 1)], "id email name address phone credit_rating")
    db.insert("invoices", [(1, 1, "2019-05-02"), (2, 1, "2023-03-10"), (3, 2, "2020-11-30"), (4, 3, "2025-01-01"),
                           (5, 1, "2022-08-15")], "id customer_id issued_on")
    db.insert("invoice_lines", [(i, i // 10, "Kontingent") for i in (11, 21, 22, 31, 41, 51)], "id invoice_id item")
    return db


def test_a_hold_keeps_invoices_from_their_date_and_the_customer_from_the_last_invoice(accounting):
    books = accounting.connector(key="accounting", **ACCOUNTING)
    ref = books.locate(Identity(email="kari@example.no"))
    plan = books.plan(ref, Action.ERASE, {}, TODAY)
    assert [(c.collection, c.operation, c.fields, c.keys) for c in plan.changes] == [
        ("invoice_lines", "delete", [], [11]), ("invoices", "delete", [], [1]),
        ("customers", "null", ["phone", "credit_rating"], [1])]
    assert [(k.collection, k.keys, k.hold, k.until) for k in plan.kept] == [
        ("invoice_lines", [51], "bookkeeping", "2027-12-31"),
        ("invoice_lines", [21, 22], "bookkeeping", "2028-12-31"),
        ("invoices", [5], "bookkeeping", "2027-12-31"), ("invoices", [2], "bookkeeping", "2028-12-31"),
        ("customers", [1], "bookkeeping", "2028-12-31")]  # counted from the last invoice
    assert {(k.ground, books.data_map.holds[k.hold].ground_nb) for k in plan.kept} == {
        (BOOKKEEPING["ground"], BOOKKEEPING["ground_nb"])}  # the subject's letter in nb shows ground_nb
    assert plan.kept[-1].fields == ["id", "email", "name", "address", "customer_since"]  # what the kept row holds
    assert plan.kept[2].fields == ["id", "customer_id", "issued_on", "amount_cents"]
    _done(books, ref, plan, changed=3)
    assert accounting.rows("customers", "id = 1") == [(1, "kari@example.no", "Kari", "Storgata 1", None, None, None)]
    assert [row[0] for row in accounting.rows("invoices", "customer_id = 1")] == [2, 5]
    assert [row[0] for row in accounting.rows("invoice_lines", "invoice_id IN (1, 2, 5)")] == [21, 22, 51]


def test_an_expired_hold_keeps_nothing(accounting):
    books = accounting.connector(key="accounting", **ACCOUNTING)
    for email, rows in (("ola@example.no", 3), ("nils@example.no", 1)):  # expired in 2025; no invoice at all
        ref = books.locate(Identity(email=email))
        plan = books.plan(ref, Action.ERASE, {}, TODAY)
        assert plan.kept == [] and {c.operation for c in plan.changes} == {"delete"}
        _done(books, ref, plan, changed=rows)
    assert [row[0] for row in accounting.rows("customers")] == [1, 3]


def test_an_indefinite_hold_has_no_end_and_a_kept_row_keeps_the_row_it_points_at(db):
    db.script("""
        CREATE TABLE companies (id INTEGER PRIMARY KEY, name TEXT, org_number TEXT);
        CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, name TEXT, phone TEXT,
                               company_id INTEGER REFERENCES companies (id));
        CREATE TABLE complaints (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL REFERENCES contacts (id),
                                 received_on DATE, summary TEXT, outcome TEXT)""")
    db.insert("companies", [(1, "Fjord AS", "999888777")], "id name org_number")
    db.insert("contacts", [(1, "kari@example.no", "Kari", "+4790000001", 1), (2, "nils@example.no", "Nils", None, 1)],
              "id email name phone company_id")
    db.insert("complaints", [(1, 1, "2025-02-01", "Late", "refund"), (2, 1, "2022-01-10", "Rude", "none")],
              "id contact_id received_on summary outcome")
    crm = db.connector(key="crm", tables=[
        {"name": "contacts", "identity": {"email": "email"}, "fields": {"company_id": _rule("null")}},
        {"name": "companies", "links": [{"column": "id", "to": "contacts.company_id"}], "erasure": "keep",
         "hold": "shared_record"},
        {"name": "complaints", "links": [{"column": "contact_id", "to": "contacts.id"}], "erasure": "keep",
         "hold": "complaints", "hold_date_column": "received_on", "fields": {"summary": _rule("null")}},
    ], holds=[{"key": "shared_record", "ground": "Shared with the company's other contacts", "indefinite": True},
              {"key": "complaints", "ground": "Forbrukerkjøpsloven: complaints are kept 3 years", "years": 3}])
    ref = crm.locate(Identity(email="kari@example.no"))
    plan = crm.plan(ref, Action.ERASE, {}, TODAY)
    assert [(c.collection, c.operation, c.fields, c.keys) for c in plan.changes] == [
        ("complaints", "delete", [], [2]), ("complaints", "null", ["summary"], [1]),
        ("contacts", "null", ["email", "name", "phone"], [1])]
    assert [(k.collection, k.keys, k.hold, k.until, k.fields) for k in plan.kept] == [
        ("complaints", [1], "complaints", "2028-02-01", ["id", "contact_id", "received_on", "outcome"]),
        ("contacts", [1], "complaints", "2028-02-01", ["id", "company_id"]),  # a kept complaint points at it
        ("companies", [1], "shared_record", None, ["id", "name", "org_number"])]
    _done(crm, ref, plan, changed=3)
    assert db.rows("contacts", "id = 1") == [(1, None, None, None, 1)]
    assert db.rows("complaints") == [(1, 1, db.value("SELECT received_on FROM complaints"), None, "refund")]

    ref = crm.locate(Identity(email="nils@example.no"))  # no complaint: the contact goes, the company stays
    plan = crm.plan(ref, Action.ERASE, {}, TODAY)
    assert [(c.collection, c.operation, c.keys) for c in plan.changes] == [("contacts", "delete", [2])]
    assert [(k.collection, k.until) for k in plan.kept] == [("companies", None)]
    _done(crm, ref, plan, changed=1)
    assert db.rows("companies") == [(1, "Fjord AS", "999888777")]


def test_the_proof_fails_when_erased_data_comes_back_or_a_kept_row_is_gone(accounting):
    books = accounting.connector(key="accounting", **ACCOUNTING)
    ref = books.locate(Identity(email="kari@example.no"))
    plan = books.plan(ref, Action.ERASE, {}, TODAY)
    _done(books, ref, plan, changed=3)
    accounting.script("INSERT INTO invoices VALUES (1, 1, '2019-05-02', 1000)")
    assert books.prove(ref, plan).problems == [
        "invoices: 1 record(s) still there after the delete",
        "invoices: 1 record(s) of the subject still there that the plan did not keep"]
    accounting.script("DELETE FROM invoices WHERE id = 1; UPDATE customers SET phone = '+4790000000' WHERE id = 1")
    assert books.prove(ref, plan).problems == ["customers: 1 record(s) not cleared as planned"]
    accounting.script("UPDATE customers SET phone = NULL WHERE id = 1; DELETE FROM invoice_lines WHERE id = 51")
    proof = books.prove(ref, plan)
    assert not proof.ok and proof.problems == ["invoice_lines: 1 kept record(s) are no longer there"]


def test_rows_added_after_planning_are_not_touched_and_the_proof_reports_them(shop_db):
    customers = {**CUSTOMERS, "erasure": "anonymise", "fields": {"email": _rule("mask")}}
    shop = shop_db.connector(tables=[customers, ORDERS, LINES, CONSENTS])
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    shop_db.script("INSERT INTO orders VALUES (12, 1, '2026-12-06', 100, 'Storgata 1');"
                   "INSERT INTO order_lines VALUES (103, 12, 'Kopp', NULL)")
    assert shop.apply(ref, plan) == 11
    assert [row[0] for row in shop_db.rows("orders", "customer_id IN (1, 3)")] == [12]  # 10 and 11 are gone
    proof = shop.prove(ref, plan)
    assert not proof.ok and proof.problems == [
        "orders: 1 record(s) of the subject still there that the plan did not keep",
        "order_lines: 1 record(s) of the subject still there that the plan did not keep"]


def test_a_row_added_after_planning_that_needs_a_planned_row_makes_apply_change_nothing(shop_db):
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS])
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    shop_db.script("INSERT INTO orders VALUES (12, 1, '2026-12-06', 100, 'Storgata 1')")
    with pytest.raises(PermanentConnectorError, match=r"^database of system shop refused a query \(IntegrityError"):
        shop.apply(ref, plan)  # customer 1 cannot go while order 12 points at it: one transaction, rolled back
    assert [shop_db.value(f"SELECT count(*) FROM {table}") for table in ("order_lines", "orders")] == [4, 4]


def test_apply_writes_through_the_write_url_while_plan_and_proof_read_through_the_read_only_url(shop_db):
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS], url=shop_db.read_only_url(),
                             write_url=shop_db.url)
    with pytest.raises(sa.exc.DBAPIError):  # the read URL cannot write
        with shop.engine().begin() as connection:
            connection.exec_driver_sql("DELETE FROM order_lines WHERE id = 200")
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    _done(shop, ref, plan, changed=11)
    assert shop_db.value("SELECT count(*) FROM orders") == 1


def test_without_a_write_url_a_read_only_database_is_a_permanent_error_that_says_what_to_set(shop_db):
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS], url=shop_db.read_only_url())
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    with pytest.raises(PermanentConnectorError, match=r"^database of system shop (is read-only here: give the "
                                                      r"system a write_url|refused a query)"):
        shop.apply(ref, plan)  # a retry would fail the same way: staff are told at once
    assert shop_db.value("SELECT count(*) FROM orders") == 3


def test_the_writes_land_where_the_write_url_points(shop_db):
    copy = shop_db.copy_url()
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS], url=copy, write_url=shop_db.url)
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    assert shop.apply(ref, plan) == 11
    assert shop_db.value("SELECT count(*) FROM orders") == 1  # the write URL's database
    with shop.engine().connect() as connection:  # the read URL's: untouched
        assert connection.exec_driver_sql("SELECT count(*) FROM orders").scalar() == 3
    assert "orders: 2 record(s) still there after the delete" in shop.prove(ref, plan).problems


def test_rectification_updates_only_rectifiable_fields_and_refuses_others_by_name(shop_db):
    anne = _anne(shop_db)
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS])
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.RECTIFY, {"values": {"customers": {"name": "Per Olsen"}}}, TODAY)
    assert [(c.collection, c.operation, c.fields, c.keys, c.values) for c in plan.changes] == [
        ("customers", "update", ["name"], [1, 3], {"name": "Per Olsen"})]
    assert shop.prove(ref, plan).problems == ["customers: 2 record(s) not updated as planned"]
    _done(shop, ref, plan, changed=2)
    assert [row[:4] for row in shop_db.rows("customers", "id IN (1, 3)")] == [
        (1, PER, "Per Olsen", "+4791234567"), (3, "Per@Example.NO", "Per Olsen", None)]
    assert _anne(shop_db) == anne

    with pytest.raises(PermanentConnectorError, match=r"^customers\.email may not be rectified$"):
        shop.plan(ref, Action.RECTIFY, {"values": {"customers": {"phone": "+4740000001", "email": "x@y.no"}}}, TODAY)
    with pytest.raises(PermanentConnectorError, match=r"^system shop has no collection invoices$"):
        shop.plan(ref, Action.RECTIFY, {"values": {"invoices": {"name": "x"}}}, TODAY)


@pytest.mark.parametrize("restriction", [{"flag_column": "restricted"}, {"flag_column": "do_not_contact"},
                                         {"suppression_table": "suppressed", "column": "customer_id"}])
def test_restriction_marks_the_subjects_rows_and_the_lift_removes_the_mark(shop_db, restriction):
    shop = shop_db.connector(tables=[{**CUSTOMERS, "restriction": restriction}, ORDERS, LINES, CONSENTS])

    def marked() -> list[int]:
        if restriction.get("flag_column") == "do_not_contact":  # a 0/1 integer flag
            return [row[0] for row in shop_db.rows("customers", "do_not_contact = 1")]
        if "flag_column" in restriction:
            return [row[0] for row in shop_db.rows("customers", "restricted = TRUE")]
        return [row[0] for row in shop_db.rows("suppressed", order="customer_id")]

    ref = shop.locate(Identity(email=PER))
    restrict = shop.plan(ref, Action.RESTRICT, {}, TODAY)
    operation = "flag" if "flag_column" in restriction else "suppress"
    assert [(c.operation, c.keys) for c in restrict.changes] == [(operation, [1, 3])]
    assert not shop.prove(ref, restrict).ok
    _done(shop, ref, restrict, changed=2)
    assert marked() == [1, 3]
    lift = shop.plan(ref, Action.LIFT_RESTRICTION, {}, TODAY)
    assert [(c.operation, c.keys) for c in lift.changes] == [("un" + operation, [1, 3])]
    _done(shop, ref, lift, changed=2)
    assert marked() == [] and not shop.prove(ref, restrict).ok


def test_stopping_a_processing_touches_only_its_rows_and_a_processing_not_held_plans_nothing(shop_db):
    anne, earlier = _anne(shop_db), shop_db.rows("consents", "id IN (3, 5)")
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS], processing=PROCESSING)
    ref = shop.locate(Identity(email=PER))
    assert shop.plan(ref, Action.STOP, {"processing": ["chat_marketing"]}, TODAY).empty
    before = datetime.now(UTC).replace(microsecond=0)
    plan = shop.plan(ref, Action.STOP, {"processing": ["newsletter", "sms_offers", "chat_marketing"]}, TODAY)
    [stop, delete] = plan.changes
    assert (stop.operation, stop.keys, delete.operation, delete.keys) == ("stop", [1], "delete", [2])
    now = stop.values["withdrawn_at"]  # the planning time, so that a second apply writes the same
    assert before <= datetime.fromisoformat(now) <= datetime.now(UTC)
    _done(shop, ref, plan, changed=2)  # into a timestamp column: PostgreSQL reads the text as one
    [stopped, *others] = shop_db.rows("consents", "customer_id IN (1, 3)")
    withdrawn = stopped[3] if isinstance(stopped[3], datetime) else datetime.fromisoformat(stopped[3])
    assert stopped[:3] == (1, 1, "newsletter") and withdrawn == datetime.fromisoformat(now)
    assert others == earlier and _anne(shop_db) == anne  # already withdrawn, or not asked for


def test_a_subject_the_system_does_not_hold_gets_empty_plans_and_proofs_ok(shop_db):
    shop = shop_db.connector(tables=[CUSTOMERS, ORDERS, LINES, CONSENTS], processing=PROCESSING)
    ref = shop.locate(Identity(email="nobody@example.no"))
    assert not ref.found and shop.actions() == frozenset(Action)
    for action in Action:
        plan = shop.plan(ref, action, {"values": {"customers": {"name": "X"}}, "processing": ["newsletter"]}, TODAY)
        assert plan.empty and plan.kept == [] and shop.apply(ref, plan) == 0 and shop.prove(ref, plan).ok


def test_a_subject_with_more_rows_than_one_key_list_holds_is_erased_completely(db):
    rows = sql_rows.CHUNK + 5000  # 25,000
    db.script(SHOP_SCHEMA)
    db.insert("customers", [{"id": 1, "email": PER}, {"id": 2, "email": ANNE}])
    db.insert("orders", [{"id": i, "customer_id": 1 if i <= rows else 2} for i in range(1, rows + 3)])
    shop = db.connector(tables=[CUSTOMERS, ORDERS])
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    assert [(c.collection, c.count) for c in plan.changes] == [("orders", rows), ("customers", 1)]
    statements = []
    sa.event.listen(shop.write_engine(), "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    _done(shop, ref, plan, changed=rows + 1)
    deletes = [s for s in statements if s.startswith("DELETE FROM orders")]
    # SQLite: IN lists of at most CHUNK keys; PostgreSQL: one bound array. Twice: apply, and the second apply.
    assert len(deletes) == (4 if db.kind == "sqlite" else 2)
    assert db.kind == "sqlite" or "= ANY" in deletes[0]
    assert db.rows("orders", order="id") == [(rows + 1, 2, None, None, None), (rows + 2, 2, None, None, None)]


def test_a_row_that_stays_keeps_the_row_it_points_at_with_the_subjects_fields_masked(shop_db):
    orders = {**ORDERS, "erasure": "anonymise", "fields": {"shipping_address": _rule("null")}}
    shop = shop_db.connector(tables=[CUSTOMERS, orders, LINES, CONSENTS])
    ref = shop.locate(Identity(email=PER))
    plan = shop.plan(ref, Action.ERASE, {}, TODAY)
    changes = {(c.collection, c.operation): c for c in plan.changes}
    assert ("customers", "delete") not in changes  # the anonymised orders still point at them (NOT NULL FK)
    assert changes[("customers", "mask")].keys == [1, 3]
    assert {"email", "name", "phone", "nickname"} <= set(changes[("customers", "mask")].fields)
    assert "restricted" not in changes[("customers", "mask")].fields + changes[("customers", "null")].fields
    _done(shop, ref, plan, changed=2 + 2 + 3 + 4)  # customers, orders, order lines, consents
    assert shop_db.rows("customers", "id = 1")[0][:5] == (1, "erased-1", "erased-1", "erased-1", "erased-1")
    order = shop_db.rows("orders", "id = 10")[0]
    assert (order[0], order[1], order[3], order[4]) == (10, 1, 49900, None)  # still Per's order, address gone
    assert not shop.locate(Identity(email=PER)).found
