"""What a `kind = "sql"` system does besides exporting: erase (holds respected), rectify, restrict and lift,
and stop a declared processing. Plans name the rows they touch (primary keys, frozen at planning), so
apply touches exactly those, set-based: one DELETE per table (children before parents), one UPDATE per
table, never a statement per row. Apply runs in one transaction per system on the write URL, and running
it again changes nothing more. Proof looks at those rows again.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dsr.connectors.base import Action, Change, Kept, PermanentConnectorError, Plan, Proof, SubjectRef
from dsr.connectors.holds import Hold
from dsr.connectors.sql_datamap import TableMap
from dsr.connectors.sql_rows import MASK_PREFIX, KeyedRows, references, referencing_first, untyped

if TYPE_CHECKING:  # the connector class imports this module
    from dsr.connectors.sql import SqlConnector


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


class SqlActions:
    """The actions of one SqlConnector (its data map, engines and the export's row conditions)."""

    def __init__(self, connector: SqlConnector):
        self.connector = connector
        self.data_map = connector.data_map
        self.by_collection = {t.collection: t for t in self.data_map.tables.values()}
        self.rows = KeyedRows(connector)
        self._required: dict[str, set[str]] = {}  # per table, its NOT NULL columns (read when planning)

    # ------------------------------------------------------------------ reading

    def _select(self, connection: sa.Connection, table: TableMap, ref: SubjectRef, columns: Iterable[str],
                where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        wanted = list(dict.fromkeys([table.primary_key, *columns]))
        view = sa.table(table.name, *(sa.column(c) for c in dict.fromkeys([*wanted, *(where or {}),
                                                                         *(l.column for l in table.links)])))
        statement = sa.select(*(view.c[c] for c in wanted)).where(self.connector.row_condition(table, ref, view))
        for column, value in (where or {}).items():
            statement = statement.where(view.c[column] == value)
        return [dict(row) for row in connection.execute(statement.order_by(view.c[table.primary_key])).mappings()]

    def _count_subject(self, connection: sa.Connection, table: TableMap, ref: SubjectRef) -> int:
        view = sa.table(table.name, *(sa.column(c) for c in dict.fromkeys(
            [table.primary_key, *(link.column for link in table.links)])))
        return connection.execute(sa.select(sa.func.count()).select_from(view).where(
            self.connector.row_condition(table, ref, view))).scalar_one()

    # ------------------------------------------------------------------ erasure

    def plan_erasure(self, ref: SubjectRef, today: date) -> Plan:
        plan = Plan(system_key=self.connector.key, action=Action.ERASE.value)
        if not ref.found:
            return plan
        tables = self.data_map.tables
        order = referencing_first(tables)
        with self.connector.engine().connect() as connection:
            columns = {t.name: self.connector.table_columns(connection, t) for t in order}
            self._required = {t.name: self.connector.required_columns(connection, t) for t in order}
            rows = {t.name: self._select(connection, t, ref, self._structural(t)) for t in order}
        held = self._held_rows(rows, today)
        staying = self._staying(rows, held)
        for table in order:
            self._plan_table(plan, table, rows[table.name], held.get(table.name, {}), columns[table.name],
                             staying[table.name])
        return plan

    def _staying(self, rows: dict[str, list[dict]], held: dict[str, dict]) -> dict[str, set]:
        """Per table, the keys of the rows that stay: held ones, those of tables whose erasure clears fields
        instead of deleting rows, and every row a staying row points at (deleting it would break the
        reference, and a foreign key would refuse the whole erasure)."""
        tables = self.data_map.tables
        staying = {name: set(held.get(name, {})) for name in tables}
        for table in tables.values():
            if table.default_erasure not in ("delete_row", "keep"):
                staying[table.name] |= {row[table.primary_key] for row in rows[table.name]}
        pointing = references(tables)
        for table in referencing_first(tables):  # children first, so a chain carries up to its root
            for column, target_name, target_column in pointing[table.name]:
                values = {row.get(column) for row in rows[table.name] if row[table.primary_key] in staying[table.name]}
                target = tables[target_name]
                staying[target_name] |= {row[target.primary_key] for row in rows[target_name]
                                         if row.get(target_column) in values}
        return staying

    def _structural(self, table: TableMap) -> list[str]:
        """Columns an erasure never clears from a kept row: keys, links both ways, the hold's date, the
        restriction flag (a marker, and often NOT NULL)."""
        tables = self.data_map.tables
        names = [table.primary_key, *(link.column for link in table.links)]
        if table.restriction and table.restriction.flag_column:
            names.append(table.restriction.flag_column)
        names += [link.to_column for child in tables.values() for link in child.links if link.table == table.name]
        if table.hold_date_column:
            names.append(table.hold_date_column)
        for other in tables.values():  # a parent counting its hold from this table's column
            if other.hold_date_from and other.hold_date_from[0] == table.name:
                names.append(other.hold_date_from[1])
        return list(dict.fromkeys(names))

    def _held_rows(self, rows: dict[str, list[dict]], today: date) -> dict[str, dict[Any, tuple[Hold, date | None]]]:
        """Per table, the rows a hold keeps today: primary key -> (hold, last day kept; None: no end)."""
        tables, holds = self.data_map.tables, self.data_map.holds
        dates: dict[str, dict[Any, date | None]] = defaultdict(dict)
        for table in tables.values():
            for row in rows[table.name]:
                dates[table.name][row[table.primary_key]] = _as_date(row.get(table.hold_date_column)) \
                    if table.hold_date_column else None
        for table in tables.values():  # counted from the latest linked row (a customer's last invoice)
            if table.hold_date_from:
                source, column = table.hold_date_from
                links = [link for link in tables[source].links if link.table == table.name]
                for row in rows[table.name]:
                    linked = [_as_date(child.get(column)) for child in rows[source]
                              if any(child.get(link.column) == row.get(link.to_column) for link in links)]
                    linked = [d for d in linked if d]
                    dates[table.name][row[table.primary_key]] = max(linked) if linked else None
        held: dict[str, dict[Any, tuple[Hold, date | None]]] = defaultdict(dict)
        pointing = references(tables)
        for table in reversed(referencing_first(tables)):  # a row without a date takes the one it points at
            if not table.hold:
                continue
            hold = holds[table.hold]
            for row in rows[table.name]:
                key = row[table.primary_key]
                dated = dates[table.name].get(key)
                if dated is None and not table.hold_date_from:
                    dated = self._referenced_date(pointing[table.name], row, rows, dates) or today
                if dated is None:
                    continue  # counted from linked rows, and there are none: nothing to keep
                until = hold.retain_until(dated)
                if until is None or until >= today:
                    held[table.name][key] = (hold, until)
                    dates[table.name][key] = dated
        for table in referencing_first(tables):  # a kept row keeps the rows it points at (as keys at least)
            for column, target_name, target_column in pointing[table.name]:
                target = tables[target_name]
                for row in rows[table.name]:
                    if row[table.primary_key] not in held[table.name]:
                        continue
                    for target_row in rows[target_name]:
                        if target_row.get(target_column) == row.get(column):
                            held[target_name].setdefault(target_row[target.primary_key],
                                                         held[table.name][row[table.primary_key]])
        return held

    def _referenced_date(self, pointing: list[tuple[str, str, str]], row: dict, rows: dict,
                         dates: dict) -> date | None:
        for column, target_name, target_column in pointing:
            target = self.data_map.tables[target_name]
            for target_row in rows[target_name]:
                if target_row.get(target_column) == row.get(column):
                    found = dates[target_name].get(target_row[target.primary_key])
                    if found:
                        return found
        return None

    def _plan_table(self, plan: Plan, table: TableMap, rows: list[dict], held: dict, columns: dict[str, Any],
                    staying: set) -> None:
        gone = [row[table.primary_key] for row in rows if row[table.primary_key] not in held]
        deleting = table.default_erasure in ("delete_row", "keep")
        deleted = [key for key in gone if deleting and key not in staying]
        if deleted:
            plan.changes.append(Change(table.collection, "delete", len(deleted), keys=deleted))
        cleared = [key for key in gone if key not in deleted]
        if cleared:  # rows of a clearing table, or rows a staying row points at: the subject's fields go
            self._clear(plan, table, cleared, columns, keep=set(self._structural(table)), instead_of_delete=deleting)
        if not held:
            return
        keep = set(self._structural(table))
        for column in columns:
            rule = table.fields.get(column)
            erasure = rule.erasure if rule else table.default_erasure
            field_hold = rule.hold if rule else None
            if erasure == "keep" or (field_hold and field_hold in self.data_map.holds):
                keep.add(column)
        self._clear(plan, table, list(held), columns, keep)
        groups: dict[tuple[str, date | None], list[Any]] = defaultdict(list)
        for key, (hold, until) in held.items():
            groups[(hold.key, until)].append(key)
        for (hold_key, until), keys in sorted(groups.items(), key=lambda g: (g[0][1] or date.max, g[0][0])):
            hold = self.data_map.holds[hold_key]
            plan.kept.append(Kept(table.collection, len(keys), hold.key, hold.ground,
                                  until.isoformat() if until else None,
                                  fields=[c for c in columns if c in keep], keys=keys))

    def _clear(self, plan: Plan, table: TableMap, keys: list[Any], columns: dict[str, Any], keep: set[str],
               instead_of_delete: bool = False) -> None:
        """Null or mask the fields of rows that stay. A row kept `instead_of_delete` (others point at it)
        loses the fields its rules would delete with the row: text masked (unique, never empty, so
        NOT NULL and UNIQUE columns still take it), other types nulled unless NOT NULL (a count, a flag:
        nulling it would refuse the whole erasure; a declared `null` on one still fails, loudly)."""
        required = self._required.get(table.name, set())
        nulled, masked = [], []
        for column in columns:
            if column in keep:
                continue
            rule = table.fields.get(column)
            if table.default_erasure == "anonymise" and (rule is None or rule.erasure not in ("null", "mask")):
                continue  # an anonymised row loses only the fields declared null or mask
            erasure = rule.erasure if rule else table.default_erasure
            if instead_of_delete and erasure in ("delete_row", "keep"):
                if column in required and not isinstance(columns[column], sa.String):
                    continue
                erasure = "mask"
            (masked if erasure == "mask" and isinstance(columns[column], sa.String) else nulled).append(column)
        if nulled:
            plan.changes.append(Change(table.collection, "null", len(keys), fields=nulled, keys=keys))
        if masked:
            plan.changes.append(Change(table.collection, "mask", len(keys), fields=masked, keys=keys))

    # ------------------------------------------------------------------ the other actions

    def plan_rectification(self, ref: SubjectRef, values: Mapping[str, Mapping[str, Any]]) -> Plan:
        plan = Plan(system_key=self.connector.key, action=Action.RECTIFY.value)
        with self.connector.engine().connect() as connection:
            for collection, fields in values.items():
                table = self.by_collection.get(collection)
                if table is None:
                    raise PermanentConnectorError(f"system {self.connector.key} has no collection {collection}")
                allowed = {c for c, rule in table.fields.items() if rule.rectify}
                if set(fields) - allowed:
                    raise PermanentConnectorError(f"{collection}.{min(set(fields) - allowed)} may not be rectified")
                keys = [row[table.primary_key] for row in self._select(connection, table, ref, [])]
                if keys and fields:
                    plan.changes.append(Change(collection, "update", len(keys), fields=sorted(fields), keys=keys,
                                               values=dict(fields)))
        return plan

    def plan_restriction(self, ref: SubjectRef, lift: bool) -> Plan:
        plan = Plan(system_key=self.connector.key, action=(Action.LIFT_RESTRICTION if lift else Action.RESTRICT).value)
        with self.connector.engine().connect() as connection:
            for table in self.data_map.tables.values():
                if table.restriction is None:
                    continue
                keys = [row[table.primary_key] for row in self._select(connection, table, ref, [])]
                if not keys:
                    continue
                if table.restriction.flag_column:
                    plan.changes.append(Change(table.collection, "unflag" if lift else "flag", len(keys),
                                               fields=[table.restriction.flag_column], keys=keys))
                else:
                    plan.changes.append(Change(table.collection, "unsuppress" if lift else "suppress", len(keys),
                                               fields=[table.restriction.suppression_table,
                                                       table.restriction.suppression_column], keys=keys))
        return plan

    def plan_stop(self, ref: SubjectRef, processing: Iterable[str], now: datetime) -> Plan:
        """The subject's rows of each wanted processing that are not stopped yet: `set` applied (a "{now}"
        value is the planning time, so applying twice writes the same), or deleted."""
        plan = Plan(system_key=self.connector.key, action=Action.STOP.value)
        wanted = set(processing)
        with self.connector.engine().connect() as connection:
            for rule in self.data_map.stops:
                if rule.processing.key not in wanted:
                    continue
                table = self.data_map.tables[rule.table]
                values = {c: now.isoformat(timespec="seconds") if v == "{now}" else v for c, v in rule.set.items()}
                rows = self._select(connection, table, ref, list(values), rule.where)
                keys = [row[table.primary_key] for row in rows if rule.delete or not self._stopped(row, rule)]
                if keys:
                    plan.changes.append(Change(table.collection, "delete" if rule.delete else "stop", len(keys),
                                               fields=sorted(values), keys=keys, values=values,
                                               text=rule.processing.key))
        return plan

    @staticmethod
    def _stopped(row: dict[str, Any], rule) -> bool:
        """Already stopped: every "{now}" column set, every other column at its stop value."""
        return all(row.get(column) is not None if value == "{now}" else row.get(column) == value
                   for column, value in rule.set.items())

    # ------------------------------------------------------------------ apply

    def apply(self, plan: Plan) -> int:
        changed = 0
        clearing: dict[str, dict[str, Any]] = {}
        for change in plan.changes:  # one UPDATE per table for what an erasure clears
            if change.operation in ("null", "mask"):
                entry = clearing.setdefault(change.collection, {"keys": change.keys, "null": [], "mask": []})
                entry[change.operation] += change.fields
        try:
            with self.connector.write_engine().begin() as connection:
                for change in plan.changes:
                    table = self.by_collection[change.collection]
                    if change.operation in ("null", "mask"):
                        entry = clearing.pop(change.collection, None)
                        if entry:
                            changed += self.rows.update(connection, table, entry["keys"], self.rows.clearing(table, entry))
                    elif change.operation == "delete":
                        changed += self.rows.delete(connection, table, change.keys)
                    elif change.operation in ("update", "stop"):
                        changed += self.rows.update(connection, table, change.keys, dict(change.values))
                    elif change.operation in ("flag", "unflag"):
                        changed += self.rows.update(connection, table, change.keys,
                                                {change.fields[0]: self._flag(connection, table, change)})
                    elif change.operation in ("suppress", "unsuppress"):
                        changed += self.rows.suppress(connection, table, change.keys, change.operation == "suppress")
        except sa.exc.SQLAlchemyError as exc:
            raise self.connector.wrap_error(exc) from None
        return changed

    def _flag(self, connection: sa.Connection, table: TableMap, change: Change) -> bool | int:
        """The flag's value in the column's own type: many schemas keep flags as 0/1 integers, which
        PostgreSQL will not compare with or set from a boolean."""
        on = change.operation == "flag"
        kind = self.connector.table_columns(connection, table).get(change.fields[0])
        return int(on) if isinstance(kind, sa.Integer) and not isinstance(kind, sa.Boolean) else on

    # ------------------------------------------------------------------ proof

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        problems: list[str] = []
        found: dict[str, int] = {}
        try:
            with self.connector.engine().connect() as connection:
                for change in plan.changes:
                    problems += self._check(connection, change)
                kept: dict[str, set] = defaultdict(set)
                for item in plan.kept:
                    kept[item.collection] |= set(item.keys)
                for collection, keys in kept.items():
                    present = self.rows.count(connection, self.by_collection[collection], sorted(keys, key=str))
                    if present != len(keys):
                        problems.append(f"{collection}: {len(keys) - present} kept record(s) are no longer there")
                for table in self.data_map.tables.values():
                    found[table.collection] = self._count_subject(connection, table, ref)
        except sa.exc.SQLAlchemyError as exc:
            raise self.connector.wrap_error(exc) from None
        if plan.action == Action.ERASE.value:
            cleared: dict[str, set] = defaultdict(set)
            for change in plan.changes:
                if change.operation in ("null", "mask"):
                    cleared[change.collection] |= set(change.keys)
            for collection, count in found.items():
                allowed = len(kept.get(collection, set()) | cleared.get(collection, set()))
                if count > allowed:
                    problems.append(f"{collection}: {count - allowed} record(s) of the subject still there that the "
                                    "plan did not keep")
        remaining = {collection: sorted(map(str, keys)) for collection, keys in kept.items()}
        digest = hashlib.sha256(json.dumps([plan.action, remaining, found], sort_keys=True).encode()).hexdigest()
        return Proof(ok=not problems, found=found, problems=problems, digest=digest)

    def _check(self, connection: sa.Connection, change: Change) -> list[str]:
        table = self.by_collection[change.collection]
        if change.operation == "delete":
            left = self.rows.count(connection, table, change.keys)
            return [f"{change.collection}: {left} record(s) still there after the delete"] if left else []
        if change.operation in ("suppress", "unsuppress"):
            listed = self.rows.suppressed(connection, table, change.keys)
            expected = len(change.keys) if change.operation == "suppress" else 0
            return [] if listed == expected else [f"{change.collection}: {abs(expected - listed)} record(s) not "
                                                  f"{'suppressed' if expected else 'released'}"]
        view = self.rows.view(table, *change.fields)
        if change.operation == "null":
            wrong = sa.or_(*(view.c[c].is_not(None) for c in change.fields))
        elif change.operation == "mask":
            wrong = sa.or_(*(sa.not_(view.c[c].startswith(MASK_PREFIX)) for c in change.fields))
        elif change.operation in ("flag", "unflag"):
            wrong = view.c[change.fields[0]] != self._flag(connection, table, change)
        else:  # update, stop: the new values are there (untyped: a date or timestamp column compares with text)
            wrong = sa.or_(*(sa.or_(view.c[c].is_(None), view.c[c] != untyped(v)) if v is not None
                             else view.c[c].is_not(None) for c, v in change.values.items()))
        left = self.rows.count(connection, table, change.keys, wrong, view=view)
        return [f"{change.collection}: {left} record(s) not {DONE[change.operation]} as planned"] if left else []


DONE = {"null": "cleared", "mask": "masked", "flag": "flagged", "unflag": "unflagged", "update": "updated",
        "stop": "stopped"}
