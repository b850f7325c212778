"""A batch of same-shaped rows (the sql kind's fast path) as the spool's JSON lines and CSV rows.

An export is millions of rows, so the work is done column by column with C-level calls (map,
join, orjson, str methods) instead of a Python call per cell: a column's type set decides how
it is turned into text once; only the cells that need it (a formula to escape, a quote) get
per-cell work. The output is byte for byte what the record-at-a-time path writes: the JSON of
`spool.encode(dict)` per row and the CSV of `csv.writer` over `spool.csv_cells(row)`
(tests/test_export_batch.py checks both on generated tables).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from decimal import Decimal
from itertools import repeat
from operator import attrgetter
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson

_NONE = type(None)
_PLAIN = frozenset({str, int, float, _NONE})
_NUMBERS = frozenset({int, float, _NONE})
FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = (",", '"', "\r", "\n")  # what csv.writer's QUOTE_MINIMAL quotes (excel dialect)
_NEEDS_QUOTES = re.compile(r'[,"\r\n]').search
_LEADING_FORMULA = re.compile("\x00[=+\\-@\t\r]").search  # in NUL-led, NUL-joined cells (a literal prefix: fast)


def _any_quoted(joined: str) -> bool:
    return any(map(joined.__contains__, _QUOTED))  # four C-speed scans beat one character-class regex
_AS_TEXT = {Decimal: str, UUID: str, datetime: datetime.isoformat, date: date.isoformat, time: time.isoformat}
_TZINFO = attrgetter("tzinfo")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "GMT",
                        "Etc/Greenwich", "Greenwich"})


def _fixed_whole_minutes(tz) -> bool:
    if type(tz) is timezone:
        return tz.utcoffset(None).total_seconds() % 60 == 0
    # Fixed zones by name (PostgreSQL's default TimeZone is often Etc/UTC): whole hours, whatever the date.
    return type(tz) is ZoneInfo and (tz.key in _UTC_NAMES or tz.key.startswith("Etc/GMT"))


def _iso_by_orjson(kind: type, column: tuple) -> bool:
    """orjson writes datetimes and dates as isoformat() does, in C, when every timezone is None or a fixed
    whole-minute offset (it drops an offset's seconds, and a region's offsets vary: Oslo's 1895 one had
    seconds)."""
    for tz in set(map(_TZINFO, filter(None, column))) if kind is datetime else ():  # datetimes are truthy
        if tz is not None and not _fixed_whole_minutes(tz):
            return False
    return True


def normalise(rows: list[tuple]) -> tuple[list[tuple], list[tuple | list]]:
    """Decimal, UUID and date/time columns as text, so the JSON and CSV of the batch see only text,
    numbers, booleans, None (and the rare structured value). Returns rows and columns."""
    columns: list[tuple | list] = list(zip(*rows))
    changed = False
    for index, column in enumerate(columns):
        kinds = set(map(type, column)) - _PLAIN
        if len(kinds) != 1 or (kind := next(iter(kinds))) not in _AS_TEXT:
            continue
        if kind in (datetime, date) and _iso_by_orjson(kind, column):
            columns[index] = orjson.loads(orjson.dumps(column))  # None stays None
        else:
            convert = _AS_TEXT[kind]
            columns[index] = list(map(convert, column)) if None not in column else \
                [None if value is None else convert(value) for value in column]
        changed = True
    return (list(zip(*columns)) if changed else rows), columns


def _quote(cells: list[str]) -> list[str]:
    return ['"' + cell.replace('"', '""') + '"' if _NEEDS_QUOTES(cell) else cell for cell in cells]


def _text_cells(column, csv_cell) -> list[str]:
    """One column as CSV cells: numbers and text at C speed, anything else through csv_cell."""
    kinds = set(map(type, column))
    if kinds == {int}:  # orjson writes integers as str() does, four times faster than map(str, ...)
        try:
            return orjson.dumps(column)[1:-1].decode().split(",")
        except TypeError:  # an integer beyond 64 bits
            return list(map(str, column))
    if kinds <= _NUMBERS:
        if _NONE in kinds:
            return ["" if value is None else str(value) for value in column]
        return list(map(str, column))  # str(float) is repr(float), as csv.writer writes it
    if kinds <= {str, _NONE}:
        texts = column if _NONE not in kinds else ["" if value is None else value for value in column]
        joined = "\x00" + "\x00".join(texts)
        if _LEADING_FORMULA(joined):
            texts = ["'" + text if text.startswith(FORMULA_LEADERS) else text for text in texts]  # S23
            joined = "\x00".join(texts)
    else:
        texts = [csv_cell(value) for value in column]
        joined = "\x00".join(texts)
    return _quote(texts) if _any_quoted(joined) else list(texts)


def csv_rows(columns: list, count: int, csv_cell) -> bytes:
    """The CSV lines (CRLF) of `count` rows given column by column."""
    if not columns:
        return b"\r\n" * count
    cells = [_text_cells(column, csv_cell) for column in columns]
    if len(cells) == 1:  # csv.writer quotes a row's only field when it is empty
        cells = [['""' if cell == "" else cell for cell in cells[0]]]
    return ("\r\n".join(map(",".join, zip(*cells))) + "\r\n").encode()


def json_lines(names: list[str], rows: list[tuple], encode) -> bytes:
    """One compact JSON object per row, each on its own line, the lines led by a comma but the first."""
    joined = encode(list(map(dict, map(zip, repeat(names), rows))))[1:-1]
    # One orjson call per batch; its top-level separators become "}\n,{" when they are the only "},{"
    # in the output (a value holding "},{" adds more: then one call per row, same result).
    if joined.count(b"},{") == len(rows) - 1:
        return joined.replace(b"},{", b"}\n,{")
    return b"\n,".join([encode(dict(zip(names, row))) for row in rows])
