"""One system, one test identity: locate it, export it, and say what each step returned.

The report holds counts, field names, statuses and times, never values: the identity is a test one,
but what a system returns for it may still be someone's (a shared company record).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from dsr.connectors.base import ConnectorError, Identity
from dsr.connectors.http_transport import Step
from dsr.connectors.registry import System


@dataclass
class CheckReport:
    system_key: str
    checked: bool  # False: nothing a machine can check (a system a person searches)
    found: bool = False
    keys: int = 0
    records: dict[str, int] = field(default_factory=dict)  # collection -> records exported
    shape: dict[str, list[str]] = field(default_factory=dict)  # collection -> field names seen
    steps: list[Step] = field(default_factory=list)  # every request, for an http system
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.found or not self.checked)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.shape, sort_keys=True).encode()).hexdigest()


def check_system(system: System, identity: Identity, export: bool = True) -> CheckReport:
    """Locate `identity` in `system` (and export what it holds), recording every request it makes."""
    connector = system.connector
    if getattr(connector, "needs_person", False):
        return CheckReport(system.key, checked=False)
    report = CheckReport(system.key, checked=True)
    transport = getattr(connector, "transport", None)
    if transport is not None:
        transport.trace = report.steps
    started = time.monotonic()
    try:
        ref = connector.locate(identity)
        report.found, report.keys = ref.found, sum(len(keys) for keys in ref.keys.values())
        if export and ref.found:
            counts: Counter[str] = Counter()
            fields: dict[str, set[str]] = {}
            for record in connector.export(ref):
                counts[record.collection] += 1
                fields.setdefault(record.collection, set()).update(record.data)
            report.records = dict(counts)
            report.shape = {name: sorted(names) for name, names in sorted(fields.items())}
    except ConnectorError as exc:
        report.error = str(exc)[:300]
    finally:
        report.seconds = time.monotonic() - started
        if transport is not None:
            transport.trace = None
        connector.close()
    return report


def shape_change(before: dict[str, list[str]], after: dict[str, list[str]]) -> str | None:
    """In words, how an answer's shape changed (collections or fields gone or new); None if it did not."""
    parts = []
    gone = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    if gone:
        parts.append("no longer returns " + ", ".join(gone))
    if new:
        parts.append("now also returns " + ", ".join(new))
    for name in sorted(set(before) & set(after)):
        lost = sorted(set(before[name]) - set(after[name]))
        added = sorted(set(after[name]) - set(before[name]))
        if lost:
            parts.append(f"{name} lacks {', '.join(lost[:8])}")
        if added:
            parts.append(f"{name} has new fields {', '.join(added[:8])}")
    return "; ".join(parts) or None
