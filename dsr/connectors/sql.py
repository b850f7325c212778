"""`kind = "sql"`: any database SQLAlchemy can reach, described by a data map (dsr.connectors.sql_datamap).

Export streams rows in primary-key order with server-side cursors; nothing is held in memory but
one batch. Erasure, rectification, restriction and stopping a processing are in sql_actions; they write
through `write_url` (exports keep the read-only `url`: least privilege).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from dsr.connectors import contacts, declaration
from dsr.connectors.base import (
    Action,
    CollectionRules,
    Connector,
    ConnectorError,
    DeclarationError,
    Identity,
    Origin,
    PermanentConnectorError,
    Plan,
    Processing,
    Proof,
    Record,
    SubjectRef,
)
from dsr.connectors.registry import kind
from dsr.connectors.sql_actions import SqlActions
from dsr.connectors.sql_datamap import Hold, TableMap, read_data_map

BATCH_ROWS = 2000


@kind("sql")
class SqlConnector(Connector):
    """Reads one database through SQLAlchemy Core; every name comes from the validated data map."""

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        if not (settings.get("url") or settings.get("url_env")):
            raise DeclarationError("url", "give the database url, or url_env naming the variable that holds it")
        for name in ("url", "url_env", "write_url", "write_url_env"):
            declaration.need_str(settings, name, optional=True)
        declaration.validate_translated_facts(settings)
        read_data_map(settings)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_map = read_data_map(self.settings)
        self._engine: sa.Engine | None = None
        self._write_engine: sa.Engine | None = None
        self._columns: dict[str, list[str]] = {}
        self._types: dict[str, dict[str, Any]] = {}
        self._required: dict[str, set[str]] = {}
        self.actions_of = SqlActions(self)

    # ------------------------------------------------------------------ connection

    def _url(self, write: bool = False) -> str:
        """The read URL (least privilege: exports need no more), or the write URL actions use (it
        defaults to the read URL)."""
        names = ("write_url", "write_url_env") if write and (self.settings.get("write_url")
                                                             or self.settings.get("write_url_env")) else ("url", "url_env")
        variable = self.settings.get(names[1])
        url = self.context.environ.get(variable) if variable else None
        url = url or self.settings.get(names[0])
        if not url:
            raise PermanentConnectorError(f"the variable {variable} holding the database url is not set")
        return declaration.expand_path(url, self.context.instance_path)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = self._make_engine(self._url())
        return self._engine

    def write_engine(self) -> sa.Engine:
        if self._write_engine is None:
            self._write_engine = self._make_engine(self._url(write=True))
        return self._write_engine

    def _make_engine(self, url: str) -> sa.Engine:
        timeout = self.context.connect_timeout
        if url.startswith("sqlite"):
            return sa.create_engine(url, poolclass=NullPool, connect_args={"timeout": timeout})
        if url.startswith("postgresql"):
            # cursor_tuple_fraction=1: plan server-side cursors for all rows, not the first 10 % (else
            # PostgreSQL walks the primary key in order and filters, instead of using the link's index).
            return sa.create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True,
                                    connect_args={"connect_timeout": max(1, int(timeout)),
                                                  "options": "-c cursor_tuple_fraction=1"})
        return sa.create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)

    def prepare(self) -> None:
        self.engine()  # imports the dialect and driver (~0.1 s for psycopg); connects to nothing

    def _columns_of(self, connection: sa.Connection, table: TableMap) -> list[str]:
        """The columns an export reads (all but the excluded ones)."""
        return [name for name in self.table_columns(connection, table) if name not in table.exclude]

    def table_columns(self, connection: sa.Connection, table: TableMap) -> dict[str, Any]:
        """Every column of the table with its type (an erasure clears excluded columns too)."""
        if table.name not in self._types:
            try:
                described = sa.inspect(connection).get_columns(table.name)
                found = {c["name"]: c["type"] for c in described}
            except sa.exc.NoSuchTableError:
                raise PermanentConnectorError(f"table {table.name} does not exist in system {self.key}") from None
            missing = {table.primary_key, *(c for cols in table.identity.values() for c in cols),
                       *(link.column for link in table.links)} - set(found)
            if missing:
                raise PermanentConnectorError(f"table {table.name} has no column {min(missing)}")
            self._types[table.name] = found
            self._required[table.name] = {c["name"] for c in described if not c.get("nullable", True)}
        return self._types[table.name]

    def required_columns(self, connection: sa.Connection, table: TableMap) -> set[str]:
        """The columns declared NOT NULL (an erasure that keeps a row cannot null them)."""
        self.table_columns(connection, table)
        return self._required[table.name]

    def wrap_error(self, exc: Exception) -> ConnectorError:
        return self._wrap(exc)

    def _wrap(self, exc: Exception) -> ConnectorError:
        # Driver messages can quote row values: staff see only the class and the system.
        if isinstance(exc, sa.exc.OperationalError) and "readonly database" in str(exc.orig):
            # SQLite's read-only refusal is an OperationalError, but no retry will change it
            return PermanentConnectorError(f"database of system {self.key} is read-only here: give the system a "
                                           "write_url (or write_url_env) that may write")
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
            return ConnectorError(f"database of system {self.key} unreachable ({type(exc.orig or exc).__name__})")
        return PermanentConnectorError(f"database of system {self.key} refused a query ({type(exc).__name__})")

    # ------------------------------------------------------------------ locate

    def locate(self, identity: Identity) -> SubjectRef:
        ref = SubjectRef(system_key=self.key)
        email = contacts.normalise_email(identity.email)
        phone = contacts.normalise_phone(identity.phone, self.data_map.region) if identity.phone else None
        try:
            with self.engine().connect() as connection:
                for table in self.data_map.identity_tables:
                    self._columns_of(connection, table)
                    contact = {k: table.identity.get(k, []) + table.contact_columns.get(k, [])
                               for k in ("email", "phone")}
                    wanted = [table.primary_key, *contact["email"], *contact["phone"]]
                    view = sa.table(table.name, *(sa.column(c) for c in dict.fromkeys(wanted)))
                    conditions = []
                    for column in table.identity.get("email", []) if email else ():  # never "IS NULL"
                        target = view.c[column]
                        conditions.append((sa.func.lower(target) if table.match == "lower" else target) == email)
                    if phone:
                        conditions += [view.c[c] == phone for c in table.identity.get("phone", [])]
                    if not conditions:
                        continue
                    statement = sa.select(*view.c).where(sa.or_(*conditions)).order_by(view.c[table.primary_key])
                    keys = ref.keys.setdefault(f"{table.name}.{table.primary_key}", [])
                    for row in connection.execute(statement).mappings():
                        keys.append(row[table.primary_key])
                        for column in contact["email"]:
                            contacts.add_unique(ref.emails, contacts.normalise_email(row[column]))
                        for column in contact["phone"]:
                            contacts.add_unique(ref.phones, contacts.normalise_phone(row[column], self.data_map.region))
        except sa.exc.SQLAlchemyError as exc:
            raise self._wrap(exc) from None
        return ref

    # ------------------------------------------------------------------ export

    def row_condition(self, table: TableMap, ref: SubjectRef, view: sa.TableClause):
        """The subject's rows of `table`: identity rows by the ref's keys, linked rows through their links."""
        return self._condition(table, ref, view)

    def _condition(self, table: TableMap, ref: SubjectRef, view: sa.TableClause):
        if table.identity:
            return view.c[table.primary_key].in_(ref.keys.get(f"{table.name}.{table.primary_key}", []))
        conditions = []
        for link in table.links:
            parent = self.data_map.tables[link.table]
            parent_view = sa.table(parent.name, sa.column(parent.primary_key), sa.column(link.to_column),
                                   *(sa.column(l.column) for l in parent.links))
            inner = sa.select(parent_view.c[link.to_column]).where(self._condition(parent, ref, parent_view))
            conditions.append(view.c[link.column].in_(inner))
        return sa.or_(*conditions)

    def export_batches(self, ref: SubjectRef) -> Iterator[tuple[str, list[str], dict[str, Origin], list[tuple]]]:
        """(collection, columns, origins, rows) per batch of at most BATCH_ROWS rows, in key order:
        what `export` yields record by record, without a Python object per row."""
        if not ref.found:
            return
        try:
            with self.engine().connect() as connection:
                for table in self.data_map.tables.values():
                    columns = self._columns_of(connection, table)
                    view = sa.table(table.name, *(sa.column(c) for c in columns))
                    origins = {c: table.origin_of(c) for c in columns}
                    statement = sa.select(*view.c).where(self._condition(table, ref, view)) \
                        .order_by(view.c[table.primary_key])
                    if connection.dialect.name == "sqlite":
                        # SQLite's cursor reads lazily: batches of plain tuples straight from it (the
                        # default fetch strategy buffers nothing ahead of the cursor).
                        result = connection.execute(statement)
                        yield from self._batches(table, columns, origins, result.cursor)
                        result.close()
                    elif connection.dialect.name == "postgresql":
                        yield from self._postgresql_batches(connection, statement, table, columns, origins)
                    else:
                        # yield_per: a server-side cursor where the dialect has one, read in batches.
                        result = connection.execution_options(yield_per=BATCH_ROWS).execute(statement)
                        for batch in result.partitions():
                            yield table.collection, columns, origins, batch
        except sa.exc.SQLAlchemyError as exc:
            raise self._wrap(exc) from None

    @staticmethod
    def _batches(table: TableMap, columns, origins, cursor):
        while batch := cursor.fetchmany(BATCH_ROWS):
            yield table.collection, columns, origins, batch
            if len(batch) < BATCH_ROWS:
                return  # the last one: no round trip to learn that nothing follows

    def _postgresql_batches(self, connection: sa.Connection, statement, table: TableMap, columns, origins):
        """A named (server-side) psycopg cursor of our own: plain tuples, one FETCH per batch. (SQLAlchemy's
        stream_results would hand out Row objects, and buffers rows ahead of its cursor.)"""
        compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        raw = connection.connection.dbapi_connection
        with raw.cursor(name=f"dsr_export_{table.name}") as cursor:
            cursor.execute(compiled.string, compiled.params)
            yield from self._batches(table, columns, origins, cursor)

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        for collection, columns, origins, rows in self.export_batches(ref):
            for row in rows:
                yield Record(collection, dict(zip(columns, row)), origins)

    def collections(self) -> list[str]:
        return [t.collection for t in self.data_map.tables.values()]

    def collection_rules(self) -> dict[str, CollectionRules]:
        return {t.collection: t.rules() for t in self.data_map.tables.values()}

    # ------------------------------------------------------------------ actions (dsr.connectors.sql_actions)

    def actions(self) -> frozenset[Action]:
        found = {Action.ERASE}
        if any(rule.rectify for t in self.data_map.tables.values() for rule in t.fields.values()):
            found.add(Action.RECTIFY)
        if any(t.restriction for t in self.data_map.tables.values()):
            found |= {Action.RESTRICT, Action.LIFT_RESTRICTION}
        if self.data_map.stops:
            found.add(Action.STOP)
        return frozenset(found)

    def processing(self) -> list[Processing]:
        return [rule.processing for rule in self.data_map.stops]

    @property
    def holds(self) -> dict[str, Hold]:
        return self.data_map.holds

    def rectifiable(self) -> dict[str, list[str]]:
        return {c: fields for c, fields in self.data_map.rectifiable().items() if fields}

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any], today: date) -> Plan:
        try:
            if action is Action.ERASE:
                return self.actions_of.plan_erasure(ref, today)
            if action is Action.RECTIFY:
                return self.actions_of.plan_rectification(ref, details.get("values", {}))
            if action in (Action.RESTRICT, Action.LIFT_RESTRICTION):
                return self.actions_of.plan_restriction(ref, lift=action is Action.LIFT_RESTRICTION)
            if action is Action.STOP:
                return self.actions_of.plan_stop(ref, details.get("processing", ()), datetime.now(UTC))
        except sa.exc.SQLAlchemyError as exc:
            raise self._wrap(exc) from None
        return super().plan(ref, action, details, today)

    def apply(self, ref: SubjectRef, plan: Plan) -> int:
        return self.actions_of.apply(plan)

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        return self.actions_of.prove(ref, plan)

    def close(self) -> None:
        """Connections go back to a pool of at most two (none for SQLite); the engine is kept for the next job."""
