"""The sql kind: a data map walked as a graph from the identity, streamed in key order; holds, erasure,
restriction and rectification are declared and validated now (file, line and key in every error)."""
from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from dsr.connectors import sql
from dsr.connectors.base import ConnectorContext, DeclarationError, Facts, Identity, Origin
from dsr.connectors.registry import build_systems
from dsr.connectors.sql import SqlConnector
from dsr.connectors.sql_datamap import Hold, read_data_map
from dsr.controller import SystemsFileError, load_systems_file
from tests.helpers.skips import skip_reason
from tests.helpers.systems import system, write_systems

FACTS = Facts(purposes=("x",), legal_basis="x", categories=("x",), recipients=("x",), retention="x", source="x")
SHOP = system(
    key="shop", name="Web shop", kind="sql", url="sqlite:///{instance}/shop.sqlite3",
    tables=[
        {"name": "customers", "identity": {"email": "email"}, "contact_columns": {"phone": "mobile"},
         "restriction": {"flag_column": "restricted"},
         "fields": {"name": {"origin": "provided", "erasure": "delete_row", "rectify": True},
                    "segment": {"origin": "derived", "erasure": "delete_row"}}},
        {"name": "orders", "links": [{"column": "customer_id", "to": "customers.id"}],
         "erasure": "keep", "hold": "bookkeeping", "hold_date_column": "ordered_on"},
        {"name": "order_lines", "links": [{"column": "order_id", "to": "orders.id"}], "default_origin": "provided"},
    ],
    holds=[{"key": "bookkeeping", "ground": "Bokføringsloven § 13", "years_after_financial_year_end": 5}],
)


def _shop_db(path):
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT, mobile TEXT, segment TEXT,
                                restricted INTEGER DEFAULT 0, password_hash TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, ordered_on TEXT, total TEXT);
        CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER, item TEXT, note TEXT);
    """)
    db.execute("INSERT INTO customers VALUES (1, 'Per@Example.no', 'Per', '+47 912 34 567', 'vip', 0, 'x')")
    db.execute("INSERT INTO customers VALUES (2, 'anne@example.no', 'Anne', NULL, 'new', 0, 'y')")
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                   [(i, 1 if i % 3 else 2, f"2024-0{1 + i % 9}-01", f"{i}.50") for i in range(1, 3001)])
    db.executemany("INSERT INTO order_lines VALUES (?, ?, ?, ?)",
                   [(i, 1 + i % 3000, "Bok", '=HYPERLINK("http://x")') for i in range(1, 6001)])
    db.commit()
    db.close()


def _systems(path):
    context = ConnectorContext(instance_path=path.parent, storage_dir=path.parent, environ={})
    return build_systems(load_systems_file(path), context)


def test_the_graph_is_walked_from_the_identity_and_rows_stream_in_key_order(tmp_path):
    _shop_db(tmp_path / "shop.sqlite3")
    shop = _systems(write_systems(tmp_path, SHOP))["shop"].connector
    ref = shop.locate(Identity(email="per@example.NO"))
    assert ref.keys == {"customers.id": [1]} and ref.phones == ["+4791234567"]
    assert ref.emails == ["per@example.no"]
    counts: dict[str, int] = {}
    last_id: dict[str, int] = {}
    for record in shop.export(ref):
        counts[record.collection] = counts.get(record.collection, 0) + 1
        assert record.data["id"] > last_id.get(record.collection, 0)
        last_id[record.collection] = record.data["id"]
        if record.collection == "orders":
            assert record.data["customer_id"] == 1
    assert counts == {"customers": 1, "orders": 2000, "order_lines": 4000}  # Anne's rows never leave
    first = next(iter(shop.export(ref)))
    assert first.origins["name"] is Origin.PROVIDED and first.origins["segment"] is Origin.DERIVED
    assert first.origins["email"] is Origin.OBSERVED  # undeclared columns: observed (not portable)


def test_a_subject_unknown_to_the_system_is_not_found(tmp_path):
    _shop_db(tmp_path / "shop.sqlite3")
    shop = _systems(write_systems(tmp_path, SHOP))["shop"].connector
    ref = shop.locate(Identity(email="nobody@example.no"))
    assert not ref.found and list(shop.export(ref)) == []


def test_declared_erasure_holds_restriction_and_rectification_are_read():
    settings = {k: v for k, v in __import__("tomllib").loads(SHOP)["systems"][0].items()
                if k not in ("key", "name", "kind", "facts")}
    data_map = read_data_map(settings)
    assert data_map.tables["orders"].default_erasure == "keep" and data_map.tables["orders"].hold == "bookkeeping"
    assert data_map.tables["customers"].restriction.flag_column == "restricted"
    assert data_map.rectifiable()["customers"] == ["name"]
    assert data_map.holds["bookkeeping"].retain_until(date(2024, 3, 10)) == date(2029, 12, 31)


@pytest.mark.parametrize(("dated", "rule", "until"), [
    (date(2024, 3, 10), {"years_after_financial_year_end": 5}, date(2029, 12, 31)),
    (date(2024, 12, 31), {"years_after_financial_year_end": 5}, date(2029, 12, 31)),
    (date(2024, 6, 30), {"years_after_financial_year_end": 5, "financial_year_end": (6, 30)}, date(2029, 6, 30)),
    (date(2024, 7, 1), {"years_after_financial_year_end": 5, "financial_year_end": (6, 30)}, date(2030, 6, 30)),
    (date(2024, 2, 29), {"years": 1}, date(2025, 2, 28)),
    (date(2026, 1, 1), {"days": 30}, date(2026, 1, 31)),
])
def test_hold_dates(dated, rule, until):
    assert Hold(key="h", ground="g", **rule).retain_until(dated) == until


@pytest.mark.parametrize(("edit", "key", "line_text"), [
    (lambda t: t.replace('links = [{ column = "order_id", to = "orders.id" }]\n', ""),
     "systems[0].tables[2].links", "[[systems.tables]]"),
    (lambda t: t.replace('to = "orders.id"', 'to = "invoices.id"'), "systems[0].tables[2].links[0].to", None),
    (lambda t: t.replace('hold = "bookkeeping"', 'hold = "forever"'), "systems[0].tables[1].hold",
     'hold = "forever"'),
    (lambda t: t.replace('erasure = "keep"\nhold = "bookkeeping"\nhold_date_column = "ordered_on"', 'erasure = "keep"'),
     "systems[0].tables[1].erasure", 'erasure = "keep"'),
    (lambda t: t.replace('origin = "derived"', 'origin = "guessed"'), "systems[0].tables[0].fields.segment.origin",
     None),
    (lambda t: t.replace('erasure = "delete_row", rectify = true', 'erasure = "shred", rectify = true'),
     "systems[0].tables[0].fields.name.erasure", None),
    (lambda t: t.replace('name = "orders"', 'name = "orders; DROP TABLE x"'), "systems[0].tables[1].name", None),
    (lambda t: t.replace('url = "sqlite:///{instance}/shop.sqlite3"', ""), "systems[0].url", None),
    (lambda t: t.replace("years_after_financial_year_end = 5", "years_after_financial_year_end = -1"),
     "systems[0].holds[0].years_after_financial_year_end", "years_after_financial_year_end = -1"),
])
def test_a_bad_data_map_fails_at_start_up_naming_file_line_and_key(tmp_path, edit, key, line_text):
    path = write_systems(tmp_path, edit(SHOP))
    text = path.read_text()
    with pytest.raises(SystemsFileError) as caught:
        _systems(path)
    assert caught.value.key == key
    assert caught.value.path.endswith("systems.toml") and caught.value.line is not None
    if line_text:
        lines = text.splitlines()
        assert lines[caught.value.line - 1].strip().startswith(line_text.split("=")[0].strip()) or \
            line_text in lines[caught.value.line - 1]


def test_a_link_cycle_is_refused():
    settings = {"tables": [
        {"name": "a", "identity": {"email": "email"}},
        {"name": "b", "links": [{"column": "x", "to": "c.id"}]},
        {"name": "c", "links": [{"column": "y", "to": "b.id"}]},
    ]}
    with pytest.raises(DeclarationError, match="cycle"):
        SqlConnector.validate({"url": "sqlite://", **settings})


def test_an_anonymised_table_must_say_which_fields_it_clears():
    settings = {"tables": [{"name": "customers", "identity": {"email": "email"}, "erasure": "anonymise",
                            "fields": {"segment": {"origin": "derived", "erasure": "delete_row"}}}]}
    with pytest.raises(DeclarationError, match="declares none: an erasure would change nothing"):
        SqlConnector.validate({"url": "sqlite://", **settings})


@pytest.fixture(params=["sqlite", "postgresql"])
def shop_url(request, tmp_path):
    """The shop's database on SQLite, and on PostgreSQL when the server pass gives one."""


    if request.param == "sqlite":
        _shop_db(tmp_path / "shop.sqlite3")
        yield f"sqlite:///{tmp_path / 'shop.sqlite3'}"
        return
    server = os.environ.get("DSR_TEST_DATABASE_URL")
    if not server:
        pytest.skip(skip_reason("postgresql", "PostgreSQL runs in the server pass (DSR_TEST_DATABASE_URL)"))
    name = f"dsr_test_shop_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    _shop_db(tmp_path / "shop.sqlite3")
    source, target = sqlite3.connect(tmp_path / "shop.sqlite3"), sa.create_engine(url)
    with target.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE customers (id BIGINT PRIMARY KEY, email TEXT, name TEXT, mobile TEXT, "
                                   "segment TEXT, restricted INTEGER DEFAULT 0, password_hash TEXT)")
        connection.exec_driver_sql("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT, ordered_on DATE, "
                                   "total NUMERIC(10, 2))")
        connection.exec_driver_sql("CREATE TABLE order_lines (id BIGINT PRIMARY KEY, order_id BIGINT, item TEXT, "
                                   "note TEXT)")
        for table in ("customers", "orders", "order_lines"):
            rows = source.execute(f"SELECT * FROM {table}").fetchall()
            marks = ", ".join(["%s"] * len(rows[0]))
            connection.exec_driver_sql(f"INSERT INTO {table} VALUES ({marks})", rows)
    source.close()
    target.dispose()
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.parametrize("rows", [1, 1999, 2000, 2001, 4000])
def test_batches_hold_every_row_once_in_key_order_whatever_their_number(shop_url, tmp_path, rows):
    systems = write_systems(tmp_path, SHOP.replace("sqlite:///{instance}/shop.sqlite3", shop_url))
    shop = _systems(systems)["shop"].connector
    ref = shop.locate(Identity(email="per@example.no"))
    with shop.engine().begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM order_lines WHERE id > {rows}")
    seen = []
    for collection, columns, _origins, batch in shop.export_batches(ref):
        assert len(batch) <= sql.BATCH_ROWS and all(type(row) is tuple for row in batch)
        if collection == "order_lines":
            seen += [row[columns.index("id")] for row in batch]
    assert seen == [i for i in range(1, rows + 1) if (1 + i % 3000) % 3]  # lines of Per's orders only
    shop.engine().dispose()
