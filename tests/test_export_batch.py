"""The column-wise batch encoding writes exactly what the record-at-a-time path writes: per row the
JSON of spool.encode(dict) and the CSV of csv.writer over spool.csv_cells (formula cells escaped)."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from dsr.bundle import batch
from dsr.bundle.spool import csv_cell, csv_cells, encode

_TEXT = st.text(alphabet=st.sampled_from(list("ab ,\"'\r\n\t=+-@;|\x00æø€{}[]")), max_size=8)
_ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30)),
                          timezone(timedelta(seconds=3661)), ZoneInfo("Europe/Oslo"), ZoneInfo("America/St_Johns"),
                          ZoneInfo("Etc/UTC"), ZoneInfo("Etc/GMT-14"), ZoneInfo("Etc/GMT+12")])
_DATETIMES = st.builds(lambda dt, tz: dt.replace(tzinfo=tz), st.datetimes(), _ZONES)
_INTS = st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1)  # what databases return (and orjson takes)
_KINDS = {
    "text": _TEXT,
    "int": _INTS,
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2),
    "datetime": _DATETIMES,
    "date": st.dates(),
    "time": st.times(),
    "uuid": st.uuids(),
    "json": st.dictionaries(st.sampled_from(["a", "b"]), _INTS | _TEXT, max_size=2),
    "mixed": _INTS | _TEXT | st.booleans(),
}


@st.composite
def tables(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(_KINDS)), min_size=1, max_size=5))
    nullable = draw(st.lists(st.booleans(), min_size=len(kinds), max_size=len(kinds)))
    cell = [(_KINDS[k] | st.none()) if n else _KINDS[k] for k, n in zip(kinds, nullable)]
    rows = draw(st.lists(st.tuples(*cell), min_size=1, max_size=30))
    return [f"c{i}" for i in range(len(kinds))], rows


def _row_by_row(names, rows):
    normal, _ = batch.normalise(rows)  # what every row's text form is (isoformat, str(Decimal), ...)
    for original, row in zip(rows, normal):
        for value, text in zip(original, row):
            if isinstance(value, datetime | date | time):
                assert text == value.isoformat()
            elif isinstance(value, Decimal | UUID):
                assert text == str(value)
    json = b"\n,".join(encode(dict(zip(names, row))) for row in normal)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in normal:
        writer.writerow(csv_cells(row))
    return json, out.getvalue().encode()


@settings(max_examples=600, deadline=None)
@given(tables())
def test_a_batch_encodes_as_its_rows_one_by_one(table):
    names, rows = table
    expected_json, expected_csv = _row_by_row(names, rows)
    normal, columns = batch.normalise(rows)
    assert batch.json_lines(names, normal, encode) == expected_json
    assert batch.csv_rows(columns, len(rows), csv_cell) == expected_csv


def test_formula_cells_are_escaped_and_quoted_cells_stay_whole():
    rows = [(1, "=SUM(A1)", "Storgata 1, Oslo", None), (2, "plain", 'say "hi"', "-3")]
    _normal, columns = batch.normalise(rows)
    assert batch.csv_rows(columns, 2, csv_cell) == (b"1,'=SUM(A1),\"Storgata 1, Oslo\",\r\n"
                                                    b"2,plain,\"say \"\"hi\"\"\",'-3\r\n")


def test_integers_beyond_64_bits_are_exported_exactly_in_both_paths():
    # A NUMERIC(38) key or a big number in an API's JSON arrives as a Python int orjson cannot write.
    big = 2 ** 70 + 7
    names, rows = ["id", "account"], [(big, "a"), (-big, None), (1, "b")]
    expected_json, expected_csv = _row_by_row(names, rows)
    normal, columns = batch.normalise(rows)
    assert batch.json_lines(names, normal, encode) == expected_json
    assert batch.csv_rows(columns, len(rows), csv_cell) == expected_csv
    assert expected_json.split(b"\n,")[0] == b'{"id":1180591620717411303431,"account":"a"}'
    assert expected_csv.startswith(b"1180591620717411303431,a\r\n-1180591620717411303431,\r\n")
