"""Statements on the rows a plan names by primary key, set-based: a count, an UPDATE or a DELETE per table
and key list, never a statement per row; and the order in which tables that point at each other are
touched. Used by the SQL connector's actions (sql_actions.py)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from dsr.connectors.sql_datamap import TableMap

if TYPE_CHECKING:  # the connector imports its actions, which import this module
    from dsr.connectors.sql import SqlConnector

#: rows per IN (...) list: one statement for all but the largest subjects, within SQLite's and
#: psycopg's limits on bound parameters
CHUNK = 20000
MASK_PREFIX = "erased-"


def chunks(keys: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start:start + CHUNK]


def among(connection: sa.Connection, column, keys: list[Any], key_type: Any) -> Iterator[Any]:
    """`column IN keys` as few statements as it takes: on PostgreSQL one `= ANY(array)` with a single bound
    array (thousands of separate parameters cost more to parse and plan than the update itself), else
    IN lists of at most CHUNK keys."""
    if connection.dialect.name == "postgresql":
        yield column == sa.any_(sa.bindparam("keys", value=list(keys), type_=postgresql.ARRAY(key_type)))
        return
    for chunk in chunks(keys):
        yield column.in_(chunk)


def untyped(value: Any) -> Any:
    """A value to compare a column with, bound without a type: SQLAlchemy types a str as VARCHAR, which the
    PostgreSQL dialect casts (`$1::VARCHAR`) and no date or timestamp column compares with; untyped, the
    database reads it as the column's type, as it does in the UPDATE's SET."""
    return value if isinstance(value, sa.ColumnElement) else sa.bindparam(None, value, type_=sa.types.NullType())


def references(tables: Mapping[str, TableMap]) -> dict[str, list[tuple[str, str, str]]]:
    """Which rows point at which, whatever way the data map walks them: per table, (column here, other
    table, its column) for every link where one side is the other table's primary key. invoices.customer_id
    -> customers.id: invoices reference customers; a link from companies.id to contacts.company_id: contacts
    reference companies."""
    found: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for table in tables.values():
        for link in table.links:
            parent = tables[link.table]
            if link.to_column == parent.primary_key:
                found[table.name].append((link.column, parent.name, link.to_column))
            elif link.column == table.primary_key:
                found[parent.name].append((link.to_column, table.name, link.column))
    return found


def referencing_first(tables: Mapping[str, TableMap]) -> list[TableMap]:
    """Tables ordered so that rows pointing at others are deleted before the rows they point at."""
    pointing = references(tables)
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for other, refs in pointing.items():
            if any(target == name for _, target, _ in refs) and other != name:
                visit(other)
        order.append(name)

    for name in tables:
        visit(name)
    return [tables[name] for name in order]


class KeyedRows:
    """Rows of one system's tables addressed by primary key (the keys a plan froze)."""

    def __init__(self, connector: SqlConnector):
        self.connector = connector

    def count(self, connection: sa.Connection, table: TableMap, keys: list[Any], *conditions,
               view: sa.TableClause | None = None) -> int:
        """How many of the rows `keys` exist (and meet `conditions`, written on `view`)."""
        view = view if view is not None else self.view(table)
        return sum(connection.execute(sa.select(sa.func.count()).select_from(view).where(condition, *conditions))
                   .scalar_one() for condition in self.among(connection, table, view.c[table.primary_key], keys))

    def among(self, connection: sa.Connection, table: TableMap, column, keys: list[Any]) -> Iterator[Any]:
        return among(connection, column, keys, self.key_type(connection, table))

    def key_type(self, connection: sa.Connection, table: TableMap) -> Any:
        found = self.connector.table_columns(connection, table).get(table.primary_key)
        return found if found is not None and not isinstance(found, sa.types.NullType) else sa.String()

    def clearing(self, table: TableMap, entry: dict) -> dict[str, Any]:
        # A mask is irreversible: a value built from the row's own key, nothing of the old value (a hash
        # of an e-mail address would be a pseudonym, not an erasure), and still unique per row.
        pk = sa.column(table.primary_key)
        values: dict[str, Any] = {column: None for column in entry["null"]}
        values.update({column: sa.literal(MASK_PREFIX) + sa.cast(pk, sa.String) for column in entry["mask"]})
        return values

    def view(self, table: TableMap, *columns: str) -> sa.TableClause:
        return sa.table(table.name, *(sa.column(c) for c in dict.fromkeys([table.primary_key, *columns])))

    def delete(self, connection: sa.Connection, table: TableMap, keys: list[Any]) -> int:
        view = self.view(table)
        return sum(connection.execute(sa.delete(view).where(condition)).rowcount
                   for condition in self.among(connection, table, view.c[table.primary_key], keys))

    def update(self, connection: sa.Connection, table: TableMap, keys: list[Any], values: dict[str, Any]) -> int:
        view = self.view(table, *values)
        # Only the rows still differing: a row count is what changed (a second apply returns 0, as the
        # contract says), not what matched (UPDATE counts matched rows, even when nothing changes).
        differs = sa.or_(*(view.c[c].is_distinct_from(untyped(v)) for c, v in values.items()))
        return sum(connection.execute(sa.update(view).where(condition, differs)
                                      .values({view.c[c]: v for c, v in values.items()})).rowcount
                   for condition in self.among(connection, table, view.c[table.primary_key], keys))

    def suppress(self, connection: sa.Connection, table: TableMap, keys: list[Any], on: bool) -> int:
        restriction = table.restriction
        view = sa.table(restriction.suppression_table, sa.column(restriction.suppression_column))
        column = view.c[restriction.suppression_column]
        if not on:
            return sum(connection.execute(sa.delete(view).where(column.in_(chunk))).rowcount for chunk in chunks(keys))
        present = {value for chunk in chunks(keys)
                   for value in connection.execute(sa.select(column).where(column.in_(chunk))).scalars()}
        missing = [key for key in keys if key not in present]
        if missing:
            connection.execute(sa.insert(view), [{restriction.suppression_column: key} for key in missing])
        return len(missing)


    def suppressed(self, connection: sa.Connection, table: TableMap, keys: list[Any]) -> int:
        """How many of `keys` are on the table's suppression list."""
        restriction = table.restriction
        view = sa.table(restriction.suppression_table, sa.column(restriction.suppression_column))
        column = view.c[restriction.suppression_column]
        return sum(connection.execute(sa.select(sa.func.count(sa.distinct(column))).where(
            column.in_(chunk))).scalar_one() for chunk in chunks(keys))
