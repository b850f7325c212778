"""`kind = "sql"`: any database SQLAlchemy can reach, described by a data map.

The data map names the tables, which columns identify the subject (identity tables), and
how the other tables link to them (`links`: this table's column IN the linked table's
column), walked as a graph from the identity: contacts -> activities, customers -> invoices
-> invoice_lines. Per field it declares the origin (provided / observed / derived: portability
exports only what the subject provided), the erasure action (delete_row / null / mask /
keep), whether staff may rectify it, and per table the legal hold and the restriction
mechanism. Erasure, holds and restriction are declared and validated now and carried out by
the actions area (plan/apply). Export streams rows in primary-key order with server-side
cursors; nothing is held in memory but one batch.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from dsr.connectors import common
from dsr.connectors.base import (
    Connector,
    ConnectorError,
    DeclarationError,
    Identity,
    Origin,
    PermanentConnectorError,
    Record,
    SubjectRef,
)
from dsr.connectors.registry import kind

ERASURE_ACTIONS = ("delete_row", "null", "mask", "keep")
BATCH_ROWS = 2000


@dataclass(frozen=True)
class Hold:
    """A legal ground to keep rows after an erasure request, and until when."""

    key: str
    ground: str
    years_after_financial_year_end: int | None = None
    years: int | None = None
    days: int | None = None
    financial_year_end: tuple[int, int] = (12, 31)

    def retain_until(self, dated: date) -> date:
        """Bokføringsloven § 13: a 2024-03-10 invoice (year ending 31 Dec) is kept until 2029-12-31."""
        if self.years_after_financial_year_end is not None:
            month, day = self.financial_year_end
            year_end = date(dated.year, month, min(day, calendar.monthrange(dated.year, month)[1]))
            if year_end < dated:
                year_end = date(dated.year + 1, month, min(day, calendar.monthrange(dated.year + 1, month)[1]))
            target = year_end.year + self.years_after_financial_year_end
            return date(target, month, min(day, calendar.monthrange(target, month)[1]))
        if self.years is not None:
            target = dated.year + self.years
            return date(target, dated.month, min(dated.day, calendar.monthrange(target, dated.month)[1]))
        return dated + timedelta(days=self.days or 0)


@dataclass(frozen=True)
class FieldRule:
    origin: Origin
    erasure: str
    rectify: bool = False
    hold: str | None = None


@dataclass(frozen=True)
class Link:
    column: str  # in this table
    table: str  # the linked table
    to_column: str  # in the linked table


@dataclass(frozen=True)
class Restriction:
    """How processing of the subject's rows is restricted (Art. 18): a flag column or a suppression table."""

    flag_column: str | None = None
    suppression_table: str | None = None
    suppression_column: str | None = None


@dataclass(frozen=True)
class TableMap:
    name: str
    collection: str
    primary_key: str
    identity: dict[str, list[str]]  # "email" / "phone" -> columns
    links: tuple[Link, ...]
    fields: dict[str, FieldRule]
    default_origin: Origin
    default_erasure: str
    exclude: frozenset[str]
    match: str  # "lower" (case-insensitive e-mail) | "exact"
    hold: str | None = None
    hold_date_column: str | None = None
    restriction: Restriction | None = None
    contact_columns: dict[str, list[str]] = field(default_factory=dict)

    def origin_of(self, column: str) -> Origin:
        rule = self.fields.get(column)
        return rule.origin if rule else self.default_origin


@dataclass(frozen=True)
class DataMap:
    tables: dict[str, TableMap]
    holds: dict[str, Hold]
    region: str

    @property
    def identity_tables(self) -> list[TableMap]:
        return [t for t in self.tables.values() if t.identity]

    def rectifiable(self) -> dict[str, list[str]]:
        return {t.collection: [c for c, r in t.fields.items() if r.rectify] for t in self.tables.values()}


def read_data_map(settings: dict[str, Any]) -> DataMap:
    holds: dict[str, Hold] = {}
    for index, entry in enumerate(common.need_list_of_tables(settings, "holds", optional=True)):
        holds_key = f"holds[{index}]."
        key = common.need_identifier(entry, "key", prefix=holds_key)
        if key in holds:
            raise DeclarationError(holds_key + "key", f"hold {key!r} is declared twice")
        rules = [name for name in ("years_after_financial_year_end", "years", "days") if name in entry]
        if len(rules) != 1:
            raise DeclarationError(holds_key + "years_after_financial_year_end",
                                   "give exactly one of years_after_financial_year_end, years or days")
        amount = entry[rules[0]]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise DeclarationError(holds_key + rules[0], "must be a whole number of at least 0")
        year_end = entry.get("financial_year_end", "12-31")
        try:
            month, day = (int(part) for part in str(year_end).split("-"))
            date(2001, month, day)
        except ValueError:
            raise DeclarationError(holds_key + "financial_year_end", "must be MM-DD, e.g. 12-31") from None
        holds[key] = Hold(key=key, ground=common.need_str(entry, "ground", prefix=holds_key),
                          financial_year_end=(month, day), **{rules[0]: amount})

    tables: dict[str, TableMap] = {}
    entries = common.need_list_of_tables(settings, "tables")
    for index, entry in enumerate(entries):
        prefix = f"tables[{index}]."
        name = common.need_identifier(entry, "name", prefix=prefix)
        if name in tables:
            raise DeclarationError(prefix + "name", f"table {name!r} is declared twice")
        identity = _columns_by_kind(entry, "identity", prefix)
        contacts = _columns_by_kind(entry, "contact_columns", prefix)
        links = []
        for link_index, link in enumerate(entry.get("links", [])):
            link_key = f"{prefix}links[{link_index}]."
            if not isinstance(link, dict):
                raise DeclarationError(link_key.rstrip("."), "must be a table {column = ..., to = \"table.column\"}")
            column = common.need_identifier(link, "column", prefix=link_key)
            target = common.need_str(link, "to", prefix=link_key)
            parts = target.split(".")
            if len(parts) != 2 or not all(common.IDENTIFIER.match(p) for p in parts):
                raise DeclarationError(link_key + "to", "must name a declared table's column as \"table.column\"")
            links.append(Link(column=column, table=parts[0], to_column=parts[1]))
        if not identity and not links:
            raise DeclarationError(prefix + "links", "a table without identity columns needs links to reach it")
        default_origin = common.read_default_origin(entry, prefix=prefix)
        default_erasure = entry.get("erasure", "delete_row")
        if default_erasure not in ERASURE_ACTIONS:
            raise DeclarationError(prefix + "erasure", f"must be one of {list(ERASURE_ACTIONS)}")
        hold = entry.get("hold")
        if hold is not None and hold not in holds:
            raise DeclarationError(prefix + "hold", f"names no declared hold (declared: {sorted(holds) or 'none'})")
        # The date the retention is counted from; without one, from the linked row's (or the erasure's) date.
        hold_date = common.need_identifier(entry, "hold_date_column", prefix=prefix, optional=True)
        if hold_date and not hold:
            raise DeclarationError(prefix + "hold_date_column", "only a table under a hold has a hold date column")
        fields = _read_fields(entry.get("fields"), prefix, holds, table_hold=hold)
        if default_erasure == "keep" and not hold:
            raise DeclarationError(prefix + "erasure", "keep needs a hold naming the legal ground")
        exclude = entry.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(c, str) and common.IDENTIFIER.match(c) for c in exclude):
            raise DeclarationError(prefix + "exclude", "must be a list of column names")
        match = entry.get("match", "lower")
        if match not in ("lower", "exact"):
            raise DeclarationError(prefix + "match", "must be \"lower\" (case-insensitive) or \"exact\"")
        tables[name] = TableMap(
            name=name, collection=common.need_identifier(entry, "collection", prefix=prefix, default=name,
                                                         pattern=common.COLLECTION),
            primary_key=common.need_identifier(entry, "primary_key", prefix=prefix, default="id"),
            identity=identity, links=tuple(links), fields=fields, default_origin=default_origin,
            default_erasure=default_erasure, exclude=frozenset(exclude), match=match, hold=hold,
            hold_date_column=hold_date, restriction=_read_restriction(entry, prefix), contact_columns=contacts,
        )
    collections = [t.collection for t in tables.values()]
    for index, (name, table) in enumerate(tables.items()):
        if collections.count(table.collection) > 1:
            raise DeclarationError(f"tables[{index}].collection", f"collection {table.collection!r} is used twice")
        for link_index, link in enumerate(table.links):
            if link.table not in tables:
                raise DeclarationError(f"tables[{index}].links[{link_index}].to",
                                       f"names table {link.table!r}, which is not declared")
    _check_graph(tables)
    if not any(t.identity for t in tables.values()):
        raise DeclarationError("tables", "at least one table needs identity columns (e.g. identity = "
                                         "{ email = \"email\" })")
    region = common.need_str(settings, "phone_region", optional=True, default="NO")
    return DataMap(tables=tables, holds=holds, region=region)


def _columns_by_kind(entry: dict, key: str, prefix: str) -> dict[str, list[str]]:
    table = common.need_table(entry, key, prefix=prefix)
    result: dict[str, list[str]] = {}
    for kind_name, columns in table.items():
        if kind_name not in ("email", "phone"):
            raise DeclarationError(f"{prefix}{key}.{kind_name}", "only email and phone identify a subject")
        columns = [columns] if isinstance(columns, str) else columns
        if not isinstance(columns, list) or not columns or \
                not all(isinstance(c, str) and common.IDENTIFIER.match(c) for c in columns):
            raise DeclarationError(f"{prefix}{key}.{kind_name}", "must be a column name or a list of them")
        result[kind_name] = list(columns)
    return result


def _read_fields(table: Any, prefix: str, holds: dict[str, Hold], table_hold: str | None) -> dict[str, FieldRule]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise DeclarationError(prefix + "fields", "must be a table of column = { origin = ..., erasure = ... }")
    rules: dict[str, FieldRule] = {}
    for column, spec in table.items():
        key = f"{prefix}fields.{column}"
        if not common.IDENTIFIER.match(column):
            raise DeclarationError(key, "is not a plain column name")
        spec = {"origin": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict):
            raise DeclarationError(key, "must be an origin or a table { origin = ..., erasure = ... }")
        unknown = set(spec) - {"origin", "erasure", "rectify", "hold"}
        if unknown:
            raise DeclarationError(f"{key}.{min(unknown)}", "is not a field setting (origin, erasure, "
                                                                   "rectify, hold)")
        origin = spec.get("origin")
        if origin not in common.ORIGINS:
            raise DeclarationError(f"{key}.origin", f"must be one of {sorted(common.ORIGINS)}")
        erasure = spec.get("erasure", "delete_row")
        if erasure not in ERASURE_ACTIONS:
            raise DeclarationError(f"{key}.erasure", f"must be one of {list(ERASURE_ACTIONS)}")
        hold = spec.get("hold")
        if hold is not None and hold not in holds:
            raise DeclarationError(f"{key}.hold", "names no declared hold")
        if erasure == "keep" and not (hold or table_hold):
            raise DeclarationError(f"{key}.erasure", "keep needs a hold naming the legal ground")
        rectify = spec.get("rectify", False)
        if not isinstance(rectify, bool):
            raise DeclarationError(f"{key}.rectify", "must be true or false")
        rules[column] = FieldRule(origin=Origin(origin), erasure=erasure, rectify=rectify, hold=hold)
    return rules


def _read_restriction(entry: dict, prefix: str) -> Restriction | None:
    table = entry.get("restriction")
    if table is None:
        return None
    key = prefix + "restriction"
    if not isinstance(table, dict):
        raise DeclarationError(key, "must be { flag_column = ... } or { suppression_table = ..., column = ... }")
    if "flag_column" in table:
        return Restriction(flag_column=common.need_identifier(table, "flag_column", prefix=key + "."))
    if "suppression_table" in table:
        return Restriction(suppression_table=common.need_identifier(table, "suppression_table", prefix=key + "."),
                           suppression_column=common.need_identifier(table, "column", prefix=key + "."))
    raise DeclarationError(key, "must name a flag_column or a suppression_table")


def _check_graph(tables: dict[str, TableMap]) -> None:
    """Every table must be reachable from an identity table, and links must not form a cycle."""
    state: dict[str, str] = {}

    def visit(name: str, index: int) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise DeclarationError(f"tables[{index}].links", f"links form a cycle through {name!r}")
        state[name] = "visiting"
        for link in tables[name].links:
            visit(link.table, index)
        state[name] = "done"

    for index, name in enumerate(tables):
        visit(name, index)


@kind("sql")
class SqlConnector(Connector):
    """Reads one database through SQLAlchemy Core; every name comes from the validated data map."""

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        if not (settings.get("url") or settings.get("url_env")):
            raise DeclarationError("url", "give the database url, or url_env naming the variable that holds it")
        common.need_str(settings, "url", optional=True)
        common.need_str(settings, "url_env", optional=True)
        common.validate_translated_facts(settings)
        read_data_map(settings)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_map = read_data_map(self.settings)
        self._engine: sa.Engine | None = None
        self._columns: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ connection

    def _url(self) -> str:
        variable = self.settings.get("url_env")
        url = self.context.environ.get(variable) if variable else None
        url = url or self.settings.get("url")
        if not url:
            raise PermanentConnectorError(f"the variable {variable} holding the database url is not set")
        return common.expand_path(url, self.context.instance_path)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self._url()
            timeout = self.context.connect_timeout
            if url.startswith("sqlite"):
                self._engine = sa.create_engine(url, poolclass=NullPool, connect_args={"timeout": timeout})
            elif url.startswith("postgresql"):
                # cursor_tuple_fraction=1: plan server-side cursors for all rows, not the first 10 % (else
                # PostgreSQL walks the primary key in order and filters, instead of using the link's index).
                self._engine = sa.create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True,
                                                connect_args={"connect_timeout": max(1, int(timeout)),
                                                              "options": "-c cursor_tuple_fraction=1"})
            else:
                self._engine = sa.create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)
        return self._engine

    def prepare(self) -> None:
        self.engine()  # imports the dialect and driver (~0.1 s for psycopg); connects to nothing

    def _columns_of(self, connection: sa.Connection, table: TableMap) -> list[str]:
        if table.name not in self._columns:
            try:
                names = [c["name"] for c in sa.inspect(connection).get_columns(table.name)]
            except sa.exc.NoSuchTableError:
                raise PermanentConnectorError(f"table {table.name} does not exist in system {self.key}") from None
            missing = {table.primary_key, *(c for cols in table.identity.values() for c in cols),
                       *(link.column for link in table.links)} - set(names)
            if missing:
                raise PermanentConnectorError(f"table {table.name} has no column {min(missing)}")
            self._columns[table.name] = [n for n in names if n not in table.exclude]
        return self._columns[table.name]

    def _wrap(self, exc: Exception) -> ConnectorError:
        # Driver messages can quote row values: staff see only the class and the system.
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
            return ConnectorError(f"database of system {self.key} unreachable ({type(exc.orig or exc).__name__})")
        return PermanentConnectorError(f"database of system {self.key} refused a query ({type(exc).__name__})")

    # ------------------------------------------------------------------ locate

    def locate(self, identity: Identity) -> SubjectRef:
        ref = SubjectRef(system_key=self.key)
        email = common.normalise_email(identity.email)
        phone = common.normalise_phone(identity.phone, self.data_map.region) if identity.phone else None
        try:
            with self.engine().connect() as connection:
                for table in self.data_map.identity_tables:
                    self._columns_of(connection, table)
                    contact = {k: table.identity.get(k, []) + table.contact_columns.get(k, [])
                               for k in ("email", "phone")}
                    wanted = [table.primary_key, *contact["email"], *contact["phone"]]
                    view = sa.table(table.name, *(sa.column(c) for c in dict.fromkeys(wanted)))
                    conditions = []
                    for column in table.identity.get("email", []):
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
                            common.add_unique(ref.emails, common.normalise_email(row[column]))
                        for column in contact["phone"]:
                            common.add_unique(ref.phones, common.normalise_phone(row[column], self.data_map.region))
        except sa.exc.SQLAlchemyError as exc:
            raise self._wrap(exc) from None
        return ref

    # ------------------------------------------------------------------ export

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

    def close(self) -> None:
        """Connections go back to a pool of at most two (none for SQLite); the engine is kept for the next job."""
