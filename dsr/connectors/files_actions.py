"""What a `kind = "files"` system does besides exporting: erase the subject's lines, and stop a declared
processing (for a list such as a newsletter, whose only use is that processing, by removing the lines).

The file is rewritten whole: to a temporary file next to it, fsynced, renamed over it, the folder
fsynced, so a reader sees the old file or the new one, never half of one. The subject's lines are
named by the addresses frozen at planning (line numbers shift when the file is rewritten)."""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dsr.connectors.base import Action, Change, ConnectorError, PermanentConnectorError, Plan, Proof

if TYPE_CHECKING:  # the connector class imports this module
    from dsr.connectors.files import FilesConnector


def plan_removal(connector: FilesConnector, emails: list[str], action: Action, processing: list[str]) -> Plan:
    plan = Plan(system_key=connector.key, action=action.value)
    wanted = set(emails)
    count = sum(1 for row in connector.rows() if connector.email_of(row) in wanted)
    if count:
        plan.changes.append(Change(connector.collection, "remove", count, keys=sorted(wanted),
                                   text=", ".join(processing)))
    return plan


def remove_lines(connector: FilesConnector, plan: Plan) -> int:
    gone = {key for change in plan.changes if change.operation == "remove" for key in change.keys}
    if not gone or not any(connector.email_of(row) in gone for row in connector.rows()):
        return 0
    return _rewrite(connector, gone)


def prove_removal(connector: FilesConnector, plan: Plan) -> Proof:
    gone = {key for change in plan.changes for key in change.keys}
    left = sum(1 for row in connector.rows() if connector.email_of(row) in gone)
    problems = [f"{connector.collection}: {left} line(s) of the subject still in the file"] if left else []
    return Proof(ok=not problems, found={connector.collection: left}, problems=problems)


def _rewrite(connector: FilesConnector, gone: set[str]) -> int:
    """Write the file without the lines of `gone` and rename it over the original; returns the lines removed."""
    path: Path = connector.path
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as handle:
            removed = _copy_kept(connector, gone, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConnectorError(f"the file of system {connector.key} could not be rewritten ({type(exc).__name__})") \
            from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return removed


def _copy_kept(connector: FilesConnector, gone: set[str], out: BinaryIO) -> int:
    """Every line not of `gone`, copied as it was read: a CSV or JSON-lines file keeps its other lines byte
    for byte (encoding, byte order mark, line endings and quoting as the tool that wrote it chose; written
    anew they came out as UTF-8 with CRLF and minimal quoting, so a Latin-1 file was corrupted). A JSON
    array is written anew."""
    removed = 0
    if connector.format == "json":
        kept = []
        for row in connector.rows():
            if connector.email_of(row) in gone:
                removed += 1
            else:
                kept.append(row)
        out.write((json.dumps(kept, ensure_ascii=False, indent=2) + "\n").encode())
        return removed
    with open(connector.path, "rb") as source:
        if connector.format == "jsonl":
            for number, line in enumerate(source, start=1):
                if line.strip() and connector.email_of(connector.parse_line(line, number)) in gone:
                    removed += 1
                else:
                    out.write(line)
            return removed
        encoding = connector.settings.get("encoding", "utf-8-sig")
        if codecs.lookup(encoding).name == "utf-8-sig" and source.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            encoding = "utf-8"  # utf-8-sig reads a file with or without a byte order mark, but always writes one
        source.seek(0)
        encode = codecs.getincrementalencoder(encoding)().encode  # a byte order mark once, at the start
        lines = _Taken(io.TextIOWrapper(source, encoding=encoding, newline=""))
        try:
            records = csv.reader(lines, delimiter=connector.settings.get("delimiter", ","))
            header = next(records, [])
            out.write(encode(lines.record()))
            for record in records:
                text = lines.record()
                if record and connector.email_of(dict(zip(header, record))) in gone:
                    removed += 1
                else:
                    out.write(encode(text))
        except (csv.Error, UnicodeError):
            raise PermanentConnectorError(f"the file of system {connector.key} is not valid CSV") from None
    return removed


class _Taken:
    """The physical lines the csv reader takes, so that each record is written back as it was read."""

    def __init__(self, lines: Iterator[str]):
        self.lines, self.taken = lines, []

    def __iter__(self) -> _Taken:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.taken.append(line)
        return line

    def record(self) -> str:
        text, self.taken = "".join(self.taken), []
        return text
