"""What a `kind = "files"` system does besides exporting: erase the subject's lines, and stop a declared
processing (for a list such as a newsletter, whose only use is that processing, by removing the lines).

The file is rewritten whole: to a temporary file next to it, fsynced, renamed over it, the folder
fsynced, so a reader sees the old file or the new one, never half of one. The subject's lines are
named by the addresses frozen at planning (line numbers shift when the file is rewritten)."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsr.connectors.base import Action, Change, ConnectorError, Plan, Proof

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
    if not gone:
        return 0
    kept, removed = [], 0
    for row in connector.rows():
        if connector.email_of(row) in gone:
            removed += 1
        else:
            kept.append(row)
    if removed:
        _rewrite(connector, kept)
    return removed


def prove_removal(connector: FilesConnector, plan: Plan) -> Proof:
    gone = {key for change in plan.changes for key in change.keys}
    left = sum(1 for row in connector.rows() if connector.email_of(row) in gone)
    problems = [f"{connector.collection}: {left} line(s) of the subject still in the file"] if left else []
    return Proof(ok=not problems, found={connector.collection: left}, problems=problems)


def _rewrite(connector: FilesConnector, rows: list[dict[str, Any]]) -> None:
    path: Path = connector.path
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w", encoding="utf-8", newline="") as handle:
            handle.write(_render(connector, rows))
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


def _render(connector: FilesConnector, rows: list[dict[str, Any]]) -> str:
    if connector.format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=connector.header(), delimiter=connector.settings.get("delimiter", ","),
                                lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if connector.format == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
