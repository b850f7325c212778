"""A collection's spool rewritten for one bundle: records left out, fields removed.

Assembly normally copies a collection's spool files into the bundle byte for byte. When staff redacted
some of it (Art. 15(4)), or the answer is a delta bundle (only what changed), the records are read once,
filtered, and written to a spool of their own, which the bundle then copies the usual way. The collected
spool stays as it was: a redaction taken back, or a full answer chosen instead, reassembles from it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from dsr.bundle import spool
from dsr.storage import Store

#: keep(record, number, line) -> bool: `number` counts from 1 in the collected order, `line` is the
#: record's JSON as collected (a delta compares its digest)
Keep = Callable[[dict[str, Any], int, bytes], bool]


@dataclass
class Rewritten:
    summary: dict[str, Any]  # what SpoolWriter.close() gives for a collection
    removed: int = 0  # records left out
    fields_removed: list[str] = field(default_factory=list)  # of the fields the collection had


def rewrite_collection(store: Store, source: str, target: str, name: str, opening: spool.Keys, sealing: bytes, *,
                       keep: Keep, drop_fields: Collection[str] = ()) -> Rewritten:
    """Write the records of `name` under `source` that `keep` keeps, without `drop_fields`, under `target`."""
    writer = spool.CollectionWriter(store, target, name, sealing)
    drop = set(drop_fields)
    seen_fields: dict[str, None] = {}
    removed = 0
    try:
        for number, line in enumerate(spool.json_lines(store, source, name, opening), start=1):
            record = json.loads(line)
            seen_fields.update(dict.fromkeys(record))
            if not keep(record, number, line):
                removed += 1
                continue
            kept = {k: v for k, v in record.items() if k not in drop} if drop else record
            if kept:
                writer.add(kept)
        summary = writer.close()
    except BaseException:
        writer.discard()
        raise
    return Rewritten(summary=summary, removed=removed, fields_removed=[f for f in seen_fields if f in drop])
