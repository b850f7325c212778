"""Per-system spool files: a task's records, already formatted for the bundle, sealed at rest.

Each collection gets a JSON-lines file (one object per line: the bundle's `.json` is these
lines inside `[` `]`) and a CSV body (the bundle's `.csv` is the header plus these rows), so
assembling a bundle copies bytes instead of re-encoding millions of rows. Portability keeps
only portable fields (provided and observed, never derived, as the data map declares them:
CollectionRules). When later records bring fields the first one lacked, the
CSV is rebuilt from the JSON lines at assembly (`ragged`).
"""
from __future__ import annotations

import base64
import csv
import json
import operator
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson

from dsr.bundle import batch
from dsr.bundle.sealed import SealedLines, SealedWriter, iter_sealed_file
from dsr.connectors.base import NO_RULES, CollectionRules, Origin, Record
from dsr.storage import Store

PURPOSE = "spool"
FORMULA_LEADERS = batch.FORMULA_LEADERS
_FLUSH_EVERY = 500


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON (orjson: a tenth of the stdlib's cost per row, and an export is millions of rows)."""
    try:
        return orjson.dumps(value, default=json_default)
    except TypeError:  # orjson refuses integers beyond 64 bits (a NUMERIC id, a big JSON number): the stdlib not
        return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":")).encode()


def dumps(value: Any) -> str:
    return encode(value).decode()


_LEADERS = frozenset(FORMULA_LEADERS)


def csv_cell(value: Any) -> str:
    """One cell; text starting with a spreadsheet formula leader is escaped with a quote (S23)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_LEADERS) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return csv_cell(dumps(value))
    return csv_cell(json_default(value))


def csv_cells(values) -> list:
    """csv_cell for a whole row, with the common types (None, int, float, plain text) inline: this runs
    once per exported row. The csv module writes None as an empty cell and numbers with str()."""
    return [value if value is None or (kind := value.__class__) is int or kind is float
            else (("'" + value) if value[:1] in _LEADERS else value) if kind is str
            else csv_cell(value) for value in values]


class _Text:
    """csv.writer writes str; the sealed file takes bytes."""

    def __init__(self):
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> bytes:
        data = "".join(self.parts).encode()
        self.parts.clear()
        return data


class CollectionWriter:
    """One collection's spool files (JSON lines and CSV rows, sealed), written record by record or in batches."""

    def __init__(self, store: Store, prefix: str, name: str, master: bytes):
        self.name = name
        self.fields: list[str] | None = None
        self.ragged = False
        self.records = 0
        self._json_file = store.writer(f"{prefix}/{name}.jsonl.sealed")
        self._csv_file = store.writer(f"{prefix}/{name}.csv.sealed")
        self.json = SealedWriter(self._json_file, master, PURPOSE, digest=False)
        self.csv = SealedWriter(self._csv_file, master, PURPOSE, digest=False)
        self._text = _Text()
        self._rows = csv.writer(self._text, lineterminator="\r\n")
        self._lines: list[bytes] = []

    def add(self, data: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(data)
        elif not self.ragged and list(data) != self.fields:
            self.ragged = True
        if self.ragged:
            self.fields.extend(k for k in data if k not in self.fields)
        else:
            self._rows.writerow(csv_cells(data.values()))
        # The spool holds the body of the bundle's JSON array: objects one per line, all but the first
        # led by a comma, so assembly copies bytes (and readers split on newlines: JSON escapes them).
        self._lines.append(encode(data) if self.records == 0 else b"," + encode(data))
        self.records += 1
        if len(self._lines) >= _FLUSH_EVERY:
            self.flush()

    def add_rows(self, columns: list[str], rows: list[tuple]) -> None:
        """A batch of rows with the same columns (the sql kind): the same output as add(), per batch."""
        if self.ragged or (self.fields is not None and columns != self.fields):
            for row in rows:
                self.add(dict(zip(columns, row)))
            return
        if self.fields is None:
            self.fields = list(columns)
        self.flush()
        rows, by_column = batch.normalise(rows)
        body = batch.json_lines(columns, rows, encode)
        self.json.write((body if self.records == 0 else b"," + body) + b"\n")
        self.csv.write(batch.csv_rows(by_column, len(rows), csv_cell))
        self.records += len(rows)

    def flush(self) -> None:
        if self._lines:
            self.json.write(b"\n".join(self._lines) + b"\n")
            self._lines.clear()
        if not self.ragged:
            self.csv.write(self._text.take())
        else:
            self._text.parts.clear()

    def close(self) -> dict[str, Any]:
        self.flush()
        self.json.close()
        self.csv.close()
        self._json_file.commit()
        self._csv_file.commit()
        return {"records": self.records, "fields": self.fields or [], "ragged": self.ragged,
                "json_bytes": self.json.size, "csv_bytes": self.csv.size}

    def discard(self) -> None:
        for handle in (self._json_file, self._csv_file):
            handle.abort()


class SpoolWriter:
    """Collects one task's records under `prefix` in `store`; `portable_only` keeps the portable fields only
    (by `rules`, the connector's CollectionRules per collection)."""

    def __init__(self, store: Store, prefix: str, master: bytes, *, portable_only: bool,
                 rules: Mapping[str, CollectionRules] | None = None):
        store.delete_prefix(prefix)  # a previous attempt of the same task: start clean
        self.store, self.prefix, self.master, self.portable_only = store, prefix, master, portable_only
        self.rules = rules or {}
        self.collections: dict[str, CollectionWriter] = {}
        self._kept: dict[tuple[int, str], tuple[dict, list[str] | None]] = {}
        self.records = 0

    def _portable(self, collection: str, names, origins: Mapping[str, Origin]) -> list[str]:
        rules = self.rules.get(collection, NO_RULES)
        return [k for k in names if rules.is_portable(k, origins.get(k, Origin.OBSERVED))]

    def _kept_fields(self, record: Record) -> list[str] | None:
        """Fields to keep (None: all). Cached per origins mapping: connectors share one per table."""
        cache_key = (id(record.origins), record.collection)
        cached = self._kept.get(cache_key)
        if cached is not None and cached[0] is record.origins:
            return cached[1]
        kept = self._portable(record.collection, record.data, record.origins) if self.portable_only else None
        self._kept[cache_key] = (record.origins, kept)
        return kept

    def add(self, record: Record) -> None:
        kept = self._kept_fields(record)
        data = record.data if kept is None else {k: record.data[k] for k in kept if k in record.data}
        if not data:
            return
        collection = self.collections.get(record.collection)
        if collection is None:
            collection = self.collections[record.collection] = CollectionWriter(self.store, self.prefix,
                                                                           record.collection, self.master)
        collection.add(data)
        self.records += 1

    def add_rows(self, collection: str, columns: list[str], origins: dict, rows: list[tuple]) -> None:
        """A batch of same-shaped rows of one collection (the fast path of the sql kind)."""
        if not rows:
            return
        if self.portable_only:
            portable = set(self._portable(collection, columns, origins))
            keep = [i for i, c in enumerate(columns) if c in portable]
            if not keep:
                return
            if len(keep) != len(columns):
                pick = operator.itemgetter(*keep)
                columns = [columns[i] for i in keep]
                rows = [(pick(row),) for row in rows] if len(keep) == 1 else [pick(row) for row in rows]
        target = self.collections.get(collection)
        if target is None:
            target = self.collections[collection] = CollectionWriter(self.store, self.prefix, collection, self.master)
        target.add_rows(columns, rows)
        self.records += len(rows)

    def close(self) -> dict[str, dict[str, Any]]:
        return {name: collection.close() for name, collection in self.collections.items()}  # data-map order

    def abort(self) -> None:
        for collection in self.collections.values():
            collection.discard()
        self.store.delete_prefix(self.prefix)


Keys = bytes | Sequence[bytes]  # the sealing key, or the keys a file may be sealed with (rotation)


def json_lines(store: Store, prefix: str, collection: str, master: Keys) -> Iterator[bytes]:
    """Each record's JSON object (bytes)."""
    for line in SealedLines(store, f"{prefix}/{collection}.jsonl.sealed", master, PURPOSE):
        yield line[1:] if line.startswith(b",") else line


def json_document(store: Store, prefix: str, collection: str, master: Keys) -> Iterator[bytes]:
    """The bundle's `<collection>.json`: a JSON array, one object per line (the spool is its body)."""
    yield b"[\n"
    yield from iter_sealed_file(store, f"{prefix}/{collection}.jsonl.sealed", master, PURPOSE)
    yield b"]\n"


def csv_document(store: Store, prefix: str, collection: str, summary: dict[str, Any],
                 master: Keys) -> Iterator[bytes]:
    text = _Text()
    writer = csv.writer(text, lineterminator="\r\n")
    fields = summary["fields"]
    writer.writerow([csv_cell(f) for f in fields])
    yield b"\xef\xbb\xbf" + text.take()  # a BOM so spreadsheet programs read UTF-8
    if not summary["ragged"]:
        yield from iter_sealed_file(store, f"{prefix}/{collection}.csv.sealed", master, PURPOSE)
        return
    for lines in _line_batches(json_lines(store, prefix, collection, master)):
        for line in lines:
            row = json.loads(line)
            writer.writerow(csv_cells([row.get(f) for f in fields]))
        yield text.take()


def _line_batches(lines, size: int = 2000) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def first_rows(store: Store, prefix: str, collection: str, master: Keys, limit: int) -> list[dict[str, Any]]:
    rows = []
    for line in json_lines(store, prefix, collection, master):
        rows.append(json.loads(line))
        if len(rows) >= limit:
            break
    return rows


def read_upload(store: Store, key: str, master: Keys) -> Iterator[bytes]:
    return iter_sealed_file(store, key, master, PURPOSE)
