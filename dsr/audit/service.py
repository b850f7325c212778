"""Append to and verify the audit chain.

Each row stores the previous row's hash and the SHA-256 of its own canonical content
(which includes that previous hash), so changing, inserting or deleting any row breaks
every later link. Details hold ids, codes and hashes only: personal data is refused, so
the chain survives when closed cases are reduced.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.db import utcnow
from dsr.models import AuditEvent

GENESIS = "0" * 64
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.:/+\-]{0,80}$")  # ids, codes, dates, hashes: no '@', no spaces
_ADVISORY_LOCK_KEY = 0x44535241  # "DSRA": serialises appenders on PostgreSQL


class AuditDetailError(ValueError):
    pass


def record(session: orm.Session, action: str, *, actor_type: str, actor_id: str | int | None = None,
           request_id: int | None = None, **details: Any) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change)."""
    if actor_type not in {"staff", "subject", "system"}:
        raise AuditDetailError(f"unknown actor type {actor_type!r}")
    _check_details(details)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
    last = session.execute(sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    event = AuditEvent(seq=seq, at=utcnow(), actor_type=actor_type,
                       actor_id=None if actor_id is None else str(actor_id), action=action,
                       request_id=request_id, details=details, prev_hash=prev_hash)
    event.hash = content_hash(event)
    session.add(event)
    session.flush()
    return event


def content_hash(event: AuditEvent) -> str:
    canonical = json.dumps(
        {
            "seq": event.seq,
            "at": event.at.isoformat(timespec="microseconds"),
            "actor_type": event.actor_type,
            "actor_id": event.actor_id,
            "action": event.action,
            "request_id": event.request_id,
            "details": event.details or {},
            "prev": event.prev_hash,
        },
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    bad_seq: int | None = None


def verify(session: orm.Session) -> Verification:
    """Walk the chain in order; report the first row whose link or content does not match."""
    expected_prev, expected_seq, rows = GENESIS, 1, 0
    for event in _in_order(session):
        if event.seq != expected_seq or event.prev_hash != expected_prev or event.hash != content_hash(event):
            return Verification(ok=False, rows=rows, bad_seq=event.seq if event.seq == expected_seq else expected_seq)
        expected_prev, expected_seq, rows = event.hash, expected_seq + 1, rows + 1
    return Verification(ok=True, rows=rows)


def _in_order(session: orm.Session) -> Iterator[AuditEvent]:
    yield from session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000))


def _check_details(details: dict[str, Any]) -> None:
    for key, value in details.items():
        if not _SAFE_TEXT.match(key):
            raise AuditDetailError(f"audit detail key {key!r} is not a plain identifier")
        if value is None or isinstance(value, bool | int):
            continue
        if isinstance(value, str) and _SAFE_TEXT.match(value):
            continue
        raise AuditDetailError(f"audit detail {key!r} must be an id, code or hash, not free text")
