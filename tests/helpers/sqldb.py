"""Small purpose-built databases for the sql connector's tests: a SQLite file, or in the server pass
(DSR_TEST_DATABASE_URL) a PostgreSQL database of their own, created and dropped around the test; and
`kind = "sql"` connectors built over them from a `[[systems]]` block, as the portal builds them.

    @pytest.fixture(params=["sqlite", "postgresql"])
    def db(request, tmp_path):
        with system_database(request.param, tmp_path) as database:
            yield database

    db.script("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
    db.insert("customers", [{"id": 1, "email": "per@example.no"}])
    db.insert("customers", [(2, "anne@example.no")], columns="id email")
    shop = db.connector(tables=[{"name": "customers", "identity": {"email": "email"}}])

The SQL a test writes must run on both (BOOLEAN, DATE, TEXT, INTEGER and REFERENCES do); dates are
given as ISO strings. Declared FOREIGN KEYs are enforced on both: on SQLite the connector does not turn
`PRAGMA foreign_keys` on, so `connector()` turns it on for every connection its engines open.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from dsr.connectors.base import ConnectorContext
from dsr.connectors.registry import build_systems
from dsr.connectors.sql import SqlConnector
from dsr.controller import load_systems_file
from tests.helpers.skips import skip_reason
from tests.helpers.systems import system, write_systems

SERVER_VARIABLE = "DSR_TEST_DATABASE_URL"


def server_url() -> str:
    """The PostgreSQL server of the server pass, or a skip with the standard reason."""
    server = os.environ.get(SERVER_VARIABLE)
    if not server:
        pytest.skip(skip_reason("postgresql", f"PostgreSQL runs in the server pass ({SERVER_VARIABLE})"))
    return server


class SystemDatabase:
    def __init__(self, kind: str, url: str, folder: Path, admin: sa.Engine | None = None):
        self.kind, self.url, self.folder = kind, url, folder
        self.engine = sa.create_engine(url, poolclass=NullPool)
        self._admin = admin
        self._connectors: list[SqlConnector] = []
        self._roles: list[str] = []
        self._copies: list[str] = []
        if kind == "sqlite":
            _enforce_foreign_keys(self.engine)

    def script(self, sql: str) -> None:
        """Statements separated by semicolons, in one transaction."""
        with self.engine.begin() as connection:
            for statement in filter(str.strip, sql.split(";")):
                connection.exec_driver_sql(statement)

    def insert(self, table: str, rows: list[dict[str, Any]] | list[tuple], columns: str = "") -> None:
        """Rows as dicts, or as tuples of the space-separated `columns`."""
        if not rows:
            return
        if columns:
            rows = [dict(zip(columns.split(), row, strict=True)) for row in rows]
        columns = list(rows[0])
        statement = sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                            f"({', '.join(':' + c for c in columns)})")
        with self.engine.begin() as connection:
            connection.execute(statement, rows)

    def rows(self, table: str, where: str = "1 = 1", order: str = "id") -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(
                f"SELECT * FROM {table} WHERE {where} ORDER BY {order}")]

    def value(self, sql: str) -> Any:
        with self.engine.connect() as connection:
            return connection.exec_driver_sql(sql).scalar()

    def connector(self, *, key: str = "shop", url: str | None = None, **settings: Any) -> SqlConnector:
        """The connector of one `[[systems]]` block (kind sql, this database's URL unless given), built
        from a systems file the way the portal builds it."""
        folder = self.folder / f"systems-{len(self._connectors)}"
        path = write_systems(folder, system(key=key, name=key.title(), kind="sql", url=url or self.url,
                                            **settings))
        context = ConnectorContext(instance_path=folder, storage_dir=folder, environ={})
        connector = build_systems(load_systems_file(path), context)[key].connector
        if self.kind == "sqlite":
            _enforce_foreign_keys(connector.engine())
            _enforce_foreign_keys(connector.write_engine())
        self._connectors.append(connector)
        return connector

    def read_only_url(self) -> str:
        """This database through a URL that cannot write: SQLite's read-only URI, or a PostgreSQL role of
        its own that may only SELECT."""
        if self.kind == "sqlite":
            return f"sqlite:///file:{self.folder / 'system.sqlite3'}?mode=ro&uri=true"
        role = f"dsr_ro_{uuid.uuid4().hex[:10]}"
        database = sa.make_url(self.url).database
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
            connection.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
            connection.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        self._roles.append(role)
        return sa.make_url(self.url).set(username=role, password=None).render_as_string(hide_password=False)

    def copy_url(self) -> str:
        """A copy of this database as it is now (a second file, or a database made from this one)."""
        if self.kind == "sqlite":
            copy = self.folder / f"copy-{len(self._copies)}.sqlite3"
            shutil.copy(self.folder / "system.sqlite3", copy)
            self._copies.append(str(copy))
            return f"sqlite:///{copy}"
        name = f"{sa.make_url(self.url).database}_copy{len(self._copies)}"
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{sa.make_url(self.url).database}"')
        self._copies.append(name)
        return sa.make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def dispose(self) -> None:
        for connector in self._connectors:
            for engine in (connector._engine, connector._write_engine):
                if engine is not None:
                    engine.dispose()
        with self.engine.begin() as connection:
            for role in self._roles:  # its grants first: a role holding privileges cannot be dropped
                connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
                connection.exec_driver_sql(f'DROP ROLE "{role}"')
        self.engine.dispose()
        if self.kind == "postgresql":
            with self._admin.connect() as connection:
                for name in self._copies:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _enforce_foreign_keys(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA foreign_keys = ON")


@contextmanager
def system_database(kind: str, folder: Path) -> Iterator[SystemDatabase]:
    """An empty database: `kind` "sqlite" (a file in `folder`) or "postgresql" (skipped outside the server
    pass)."""
    if kind == "sqlite":
        database = SystemDatabase(kind, f"sqlite:///{folder / 'system.sqlite3'}", folder)
        try:
            yield database
        finally:
            database.dispose()
        return
    server = server_url()
    name = f"dsr_test_sys_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    database = SystemDatabase(kind, sa.make_url(server).set(database=name).render_as_string(hide_password=False),
                              folder, admin)
    try:
        yield database
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

