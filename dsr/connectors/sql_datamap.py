"""The data map of a `kind = "sql"` system, read and checked from its declaration.

It names the tables, which columns identify the subject (identity tables), and how the other tables
link to them (`links`: this table's column IN the linked table's column), walked as a graph from the
identity: contacts -> activities, customers -> invoices -> invoice_lines. Per field it declares the
origin (provided / observed / derived: portability exports only what the subject provided), the
erasure action (delete_row / null / mask / keep), whether staff may rectify it, whether a portability
bundle holds it (`portable`, per table and per field: by default provided and observed data, never
derived), and per table the legal hold and the restriction mechanism.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dsr.connectors import declaration
from dsr.connectors.base import CollectionRules, DeclarationError, Origin, Processing
from dsr.connectors.holds import Hold, read_holds

ERASURE_ACTIONS = ("delete_row", "null", "mask", "keep")
#: a table's erasure may also be "anonymise": its rows stay, only the fields declared null or mask are cleared
#: (what is left identifies no one once they are gone, e.g. an order's total)
TABLE_ERASURE_ACTIONS = (*ERASURE_ACTIONS, "anonymise")


@dataclass(frozen=True)
class FieldRule:
    origin: Origin
    erasure: str
    rectify: bool = False
    hold: str | None = None
    portable: bool | None = None  # None: as its table (and never when derived)


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
    #: the hold counts from the latest value of a linked table's column (e.g. a customer's last invoice)
    hold_date_from: tuple[str, str] | None = None
    restriction: Restriction | None = None
    contact_columns: dict[str, list[str]] = field(default_factory=dict)
    portable: bool = True  # `portable = false`: no portability bundle holds this table

    def origin_of(self, column: str) -> Origin:
        rule = self.fields.get(column)
        return rule.origin if rule else self.default_origin

    def rules(self) -> CollectionRules:
        key = None if self.primary_key in self.exclude else self.primary_key
        return CollectionRules(key_field=key, portable=self.portable, field_portable={
            column: rule.portable for column, rule in self.fields.items() if rule.portable is not None})


@dataclass(frozen=True)
class StopRule:
    """How one declared processing (`[[systems.processing]]`) stops for a subject: in `table`, the
    subject's rows matching `where` get `set` (e.g. a withdrawn-at date, a consent flag off) or are
    deleted."""

    processing: Processing
    table: str
    where: dict[str, Any]
    set: dict[str, Any]
    delete: bool


@dataclass(frozen=True)
class DataMap:
    tables: dict[str, TableMap]
    holds: dict[str, Hold]
    region: str
    stops: tuple[StopRule, ...] = ()

    @property
    def identity_tables(self) -> list[TableMap]:
        return [t for t in self.tables.values() if t.identity]

    def rectifiable(self) -> dict[str, list[str]]:
        return {t.collection: [c for c, r in t.fields.items() if r.rectify] for t in self.tables.values()}


def read_data_map(settings: dict[str, Any]) -> DataMap:
    holds = read_holds(settings)
    tables: dict[str, TableMap] = {}
    entries = declaration.need_list_of_tables(settings, "tables")
    for index, entry in enumerate(entries):
        prefix = f"tables[{index}]."
        name = declaration.need_identifier(entry, "name", prefix=prefix)
        if name in tables:
            raise DeclarationError(prefix + "name", f"table {name!r} is declared twice")
        identity = _columns_by_kind(entry, "identity", prefix)
        contacts = _columns_by_kind(entry, "contact_columns", prefix)
        links = []
        for link_index, link in enumerate(entry.get("links", [])):
            link_key = f"{prefix}links[{link_index}]."
            if not isinstance(link, dict):
                raise DeclarationError(link_key.rstrip("."), "must be a table {column = ..., to = \"table.column\"}")
            column = declaration.need_identifier(link, "column", prefix=link_key)
            target = declaration.need_str(link, "to", prefix=link_key)
            parts = target.split(".")
            if len(parts) != 2 or not all(declaration.IDENTIFIER.match(p) for p in parts):
                raise DeclarationError(link_key + "to", "must name a declared table's column as \"table.column\"")
            links.append(Link(column=column, table=parts[0], to_column=parts[1]))
        if not identity and not links:
            raise DeclarationError(prefix + "links", "a table without identity columns needs links to reach it")
        default_origin = declaration.read_default_origin(entry, prefix=prefix)
        default_erasure = entry.get("erasure", "delete_row")
        if default_erasure not in TABLE_ERASURE_ACTIONS:
            raise DeclarationError(prefix + "erasure", f"must be one of {list(TABLE_ERASURE_ACTIONS)}")
        hold = entry.get("hold")
        if hold is not None and hold not in holds:
            raise DeclarationError(prefix + "hold", f"names no declared hold (declared: {sorted(holds) or 'none'})")
        # The date the retention is counted from; without one, from the linked row's (or the erasure's) date.
        hold_date = declaration.need_identifier(entry, "hold_date_column", prefix=prefix, optional=True)
        if hold_date and not hold:
            raise DeclarationError(prefix + "hold_date_column", "only a table under a hold has a hold date column")
        hold_date_from = _read_table_column(entry, "hold_date_from", prefix)
        if hold_date_from and (not hold or hold_date):
            raise DeclarationError(prefix + "hold_date_from", "needs a hold, and replaces hold_date_column")
        fields = _read_fields(entry.get("fields"), prefix, holds, table_hold=hold)
        if default_erasure == "keep" and not hold:
            raise DeclarationError(prefix + "erasure", "keep needs a hold naming the legal ground")
        if default_erasure == "anonymise" and not any(rule.erasure in ("null", "mask") for rule in fields.values()):
            raise DeclarationError(prefix + "erasure", "anonymise clears only the fields declared null or mask, "
                                   "and this table declares none: an erasure would change nothing here")
        exclude = entry.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(c, str) and declaration.IDENTIFIER.match(c) for c in exclude):
            raise DeclarationError(prefix + "exclude", "must be a list of column names")
        match = entry.get("match", "lower")
        if match not in ("lower", "exact"):
            raise DeclarationError(prefix + "match", "must be \"lower\" (case-insensitive) or \"exact\"")
        tables[name] = TableMap(
            name=name, collection=declaration.need_identifier(entry, "collection", prefix=prefix, default=name,
                                                         pattern=declaration.COLLECTION),
            primary_key=declaration.need_identifier(entry, "primary_key", prefix=prefix, default="id"),
            identity=identity, links=tuple(links), fields=fields, default_origin=default_origin,
            default_erasure=default_erasure, exclude=frozenset(exclude), match=match, hold=hold,
            hold_date_column=hold_date, hold_date_from=hold_date_from, restriction=_read_restriction(entry, prefix),
            contact_columns=contacts, portable=declaration.read_portable(entry, prefix=prefix) is not False,
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
    for index, table in enumerate(tables.values()):
        source = table.hold_date_from
        if source and not any(link.table == table.name for link in tables.get(source[0], _NO_TABLE).links):
            raise DeclarationError(f"tables[{index}].hold_date_from",
                                   f"must name a column of a table linked to {table.name!r}, e.g. invoices.issued_on")
    if not any(t.identity for t in tables.values()):
        raise DeclarationError("tables", "at least one table needs identity columns (e.g. identity = "
                                         "{ email = \"email\" })")
    region = declaration.need_str(settings, "phone_region", optional=True, default="NO")
    return DataMap(tables=tables, holds=holds, region=region, stops=_read_stops(settings, tables))


def _read_table_column(entry: dict, key: str, prefix: str) -> tuple[str, str] | None:
    value = declaration.need_str(entry, key, prefix=prefix, optional=True)
    if value is None:
        return None
    parts = value.split(".")
    if len(parts) != 2 or not all(declaration.IDENTIFIER.match(p) for p in parts):
        raise DeclarationError(prefix + key, "must be \"table.column\"")
    return parts[0], parts[1]


def _read_stops(settings: dict[str, Any], tables: dict[str, TableMap]) -> tuple[StopRule, ...]:
    stops = []
    for index, (processing, entry) in enumerate(declaration.read_processing(settings)):
        prefix = f"processing[{index}]."
        table = declaration.need_identifier(entry, "table", prefix=prefix)
        if table not in tables:
            raise DeclarationError(prefix + "table", f"names table {table!r}, which is not declared")
        where = declaration.need_table(entry, "where", prefix=prefix)
        values = declaration.need_table(entry, "set", prefix=prefix)
        delete = entry.get("delete", False)
        if delete not in (True, False) or bool(values) == bool(delete):
            raise DeclarationError(prefix + "set", "give either set = { column = value } or delete = true")
        for column in (*where, *values):
            if not declaration.IDENTIFIER.match(column):
                raise DeclarationError(prefix + "where", f"{column!r} is not a plain column name")
        stops.append(StopRule(processing, table, dict(where), dict(values), bool(delete)))
    return tuple(stops)


_NO_TABLE = TableMap(name="", collection="", primary_key="", identity={}, links=(), fields={},
                     default_origin=Origin.OBSERVED, default_erasure="keep", exclude=frozenset(), match="lower")


def _columns_by_kind(entry: dict, key: str, prefix: str) -> dict[str, list[str]]:
    table = declaration.need_table(entry, key, prefix=prefix)
    result: dict[str, list[str]] = {}
    for kind_name, columns in table.items():
        if kind_name not in ("email", "phone"):
            raise DeclarationError(f"{prefix}{key}.{kind_name}", "only email and phone identify a subject")
        columns = [columns] if isinstance(columns, str) else columns
        if not isinstance(columns, list) or not columns or \
                not all(isinstance(c, str) and declaration.IDENTIFIER.match(c) for c in columns):
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
        if not declaration.IDENTIFIER.match(column):
            raise DeclarationError(key, "is not a plain column name")
        spec = {"origin": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict):
            raise DeclarationError(key, "must be an origin or a table { origin = ..., erasure = ... }")
        unknown = set(spec) - {"origin", "erasure", "rectify", "hold", "portable"}
        if unknown:
            raise DeclarationError(f"{key}.{min(unknown)}", "is not a field setting (origin, erasure, "
                                                                   "rectify, hold, portable)")
        origin = spec.get("origin")
        if origin not in declaration.ORIGINS:
            raise DeclarationError(f"{key}.origin", f"must be one of {sorted(declaration.ORIGINS)}")
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
        rules[column] = FieldRule(origin=Origin(origin), erasure=erasure, rectify=rectify, hold=hold,
                                  portable=declaration.read_portable(spec, prefix=key + ".", origin=Origin(origin)))
    return rules


def _read_restriction(entry: dict, prefix: str) -> Restriction | None:
    table = entry.get("restriction")
    if table is None:
        return None
    key = prefix + "restriction"
    if not isinstance(table, dict):
        raise DeclarationError(key, "must be { flag_column = ... } or { suppression_table = ..., column = ... }")
    if "flag_column" in table:
        return Restriction(flag_column=declaration.need_identifier(table, "flag_column", prefix=key + "."))
    if "suppression_table" in table:
        return Restriction(suppression_table=declaration.need_identifier(table, "suppression_table", prefix=key + "."),
                           suppression_column=declaration.need_identifier(table, "column", prefix=key + "."))
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
