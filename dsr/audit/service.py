"""Append to and verify the audit chain.

Each row stores the previous row's hash and the SHA-256 of its own canonical content
(which includes that previous hash), so changing, inserting or deleting any row breaks
every later link. Details hold ids, codes and hashes only: personal data is refused, so
the chain survives when closed cases are reduced.

Anyone who can write the database could recompute such a chain, so each row is also sealed:
`mac` is an HMAC of its hash under AUDIT_KEY, a key kept outside the database (SECURITY-PLAN S40).
A seal vouches for its row and, through the hash links, for every row before it (rows written
before the key existed included). The key can be rotated: the old one goes to AUDIT_KEY_FALLBACKS,
new rows are sealed with the new one, and a row may carry the seal of any listed key as long as the
keys never go back to an older one along the chain (whoever holds only an old key cannot add rows
after the rotation). On PostgreSQL a trigger refuses UPDATE and DELETE on the table,
and `write_audit_head` appends the head of the chain to a file the database cannot change, so even
a rewrite by someone holding the key contradicts a head written earlier.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy import orm

from dsr.config import ConfigError
from dsr.db import utcnow
from dsr.models import AuditEvent
from dsr.queue import QUEUE_DEFAULT, job

GENESIS = "0" * 64
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.:/+\-]{0,80}$")  # ids, codes, dates, hashes: no '@', no spaces
_ADVISORY_LOCK_KEY = 0x44535241  # "DSRA": serialises appenders on PostgreSQL
_PENDING = "dsr_audit_pending"  # session.info: events recorded, not yet appended


class AuditDetailError(ValueError):
    pass


@dataclass(frozen=True)
class _Pending:
    """An event recorded in a transaction, appended to the chain when that transaction commits."""
    action: str
    actor_type: str
    actor_id: str | None
    request_id: int | None
    details: dict[str, Any]
    transaction: orm.SessionTransaction


def record(session: orm.Session, action: str, *, actor_type: str, actor_id: str | int | None = None,
           request_id: int | None = None, **details: Any) -> None:
    """Record one event in the caller's transaction: it is appended to the chain when the transaction
    commits and vanishes if it (or the savepoint it was recorded in) rolls back.

    Appending at the commit keeps the chain's lock (one appender at a time on PostgreSQL) for the
    append and the commit only, instead of from the first event to the end of the caller's work: under
    a crowd of subjects filing at once the lock was the queue they all waited in."""
    if actor_type not in {"staff", "subject", "system"}:
        raise AuditDetailError(f"unknown actor type {actor_type!r}")
    _check_details(details)
    session.connection()  # begins the transaction the event belongs to, if nothing has yet
    pending = session.info.setdefault(_PENDING, [])
    pending.append(_Pending(action, actor_type, None if actor_id is None else str(actor_id), request_id, details,
                            session.get_nested_transaction() or session.get_transaction()))


def _append_pending(session: orm.Session) -> None:
    """Append the transaction's recorded events to the chain, in the order they were recorded."""
    if session.in_nested_transaction():
        return  # a savepoint released: its events wait for the real commit
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
    last = session.execute(sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
    key = audit_key() if has_app_context() else None
    now = utcnow()
    for item in pending:
        seq += 1
        row = AuditEvent(seq=seq, at=now, actor_type=item.actor_type, actor_id=item.actor_id, action=item.action,
                         request_id=item.request_id, details=item.details, prev_hash=prev_hash)
        row.hash = prev_hash = content_hash(row)
        row.mac = seal_of(key, row.hash) if key else None
        session.add(row)


def _drop_rolled_back(session: orm.Session, rolled_back: orm.SessionTransaction) -> None:
    """Forget the events recorded in a transaction or savepoint that rolled back (or inside it)."""
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [item for item in pending if not _within(item.transaction, rolled_back)]


def _within(transaction: orm.SessionTransaction | None, outer: orm.SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def _forget_at_end(session: orm.Session, transaction: orm.SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction ended (committed, rolled back or closed)
        session.info.pop(_PENDING, None)


sa.event.listen(orm.Session, "before_commit", _append_pending)
sa.event.listen(orm.Session, "after_soft_rollback", _drop_rolled_back)
sa.event.listen(orm.Session, "after_transaction_end", _forget_at_end)


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


def audit_key(app: Flask | None = None) -> bytes | None:
    """AUDIT_KEY (urlsafe base64 of 32 random bytes), or None when this installation has none."""
    return _decode_key((app or current_app).config.get("AUDIT_KEY"))


def audit_keys(app: Flask | None = None) -> list[bytes]:
    """AUDIT_KEY, then the earlier keys of AUDIT_KEY_FALLBACKS (newest first): what seals may be made with."""
    config = (app or current_app).config
    keys = [_decode_key(text) for text in [config.get("AUDIT_KEY"), *(config.get("AUDIT_KEY_FALLBACKS") or [])]]
    return [key for key in keys if key]


def _decode_key(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        key = b""
    if len(key) < 32:
        raise ConfigError("DSR_AUDIT_KEY must be the urlsafe base64 of 32 random bytes")
    return key


def missing_in_production(app: Flask) -> bool:
    return app.config["ENV"] == "production" and not app.config.get("AUDIT_KEY")


def seal_of(key: bytes, event_hash: str) -> str:
    return hmac.new(key, f"dsr.audit.v1:{event_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    bad_seq: int | None = None
    reason: str = ""


_INSTALLATION_KEY: Any = object()


def verify(session: orm.Session, key: bytes | list[bytes] | None = _INSTALLATION_KEY) -> Verification:
    """Walk the chain in order; report the first row whose link, content or seal does not match.

    `key` defaults to this installation's AUDIT_KEY and its fallbacks (a list, newest first). With a key,
    every row from the first sealed one on must carry a valid seal, by a key no older than the one
    before it, and the last row must be sealed: a seal vouches for the rows before it, so rows from
    before the key existed pass only when a sealed row follows them. Without `key`, only the links are
    checked.
    """
    if key is _INSTALLATION_KEY:
        key = (audit_keys() or None) if has_app_context() else None
    keys = [key] if isinstance(key, bytes) else key
    oldest_allowed = len(keys) - 1 if keys else 0  # index into keys; moves towards 0 (the newest) only
    expected_prev, expected_seq, rows, first_unsealed, sealed = GENESIS, 1, 0, None, False
    for event in _in_order(session):
        if event.seq != expected_seq or event.prev_hash != expected_prev or event.hash != content_hash(event):
            seq = event.seq if event.seq == expected_seq else expected_seq
            return Verification(False, rows, seq, "its content or its link to the row before does not match")
        if keys and event.mac is not None:
            index = next((i for i, k in enumerate(keys[:oldest_allowed + 1])
                          if hmac.compare_digest(event.mac, seal_of(k, event.hash))), None)
            if index is None:
                return Verification(False, rows, event.seq, "its seal does not match DSR_AUDIT_KEY (nor an "
                                                            "earlier key not older than the row before's)")
            oldest_allowed = index
            sealed, first_unsealed = True, None
        elif keys and sealed:
            return Verification(False, rows, event.seq, "it is not sealed, though rows before it are")
        elif first_unsealed is None:
            first_unsealed = event.seq
        expected_prev, expected_seq, rows = event.hash, expected_seq + 1, rows + 1
    if keys and first_unsealed is not None:
        return Verification(False, rows, first_unsealed, "no sealed row follows it (right after an "
                                                         "upgrade, the next audited action seals it)")
    return Verification(True, rows)


def write_audit_head(session: orm.Session, path: str | os.PathLike) -> str:
    """Append the chain's head (sequence number, hash, seal) to `path`, a file the database cannot
    change; `verify_heads` later compares the chain with every line. Returns the line."""
    last = session.execute(sa.select(AuditEvent.seq, AuditEvent.hash, AuditEvent.mac)
                           .order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, head, mac = (last.seq, last.hash, last.mac) if last else (0, GENESIS, None)
    line = f"{utcnow().isoformat(timespec='seconds')}\tseq={seq}\thash={head}\tmac={mac or '-'}"
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.write(line + "\n")
    return line


_HEAD_LINE = re.compile(r"^(?P<at>\S+)\tseq=(?P<seq>\d+)\thash=(?P<hash>[0-9a-f]{64})\tmac=\S+$")


def verify_heads(session: orm.Session, path: str | os.PathLike) -> Verification | None:
    """The first head in `path` the chain no longer has (None: all agree, or no file yet)."""
    path = Path(path)
    if not path.exists():
        return None
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        match = _HEAD_LINE.match(line)
        if match is None:
            return Verification(False, 0, None, f"{path} holds a line that is not an audit head")
        seq = int(match["seq"])
        stored = session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == seq)) if seq else GENESIS
        if stored != match["hash"]:
            return Verification(False, 0, max(seq, 1), f"the chain differs from the head written to {path} "
                                                       f"at {match['at']} (audit-head)")
    return None


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


@job(QUEUE_DEFAULT, every=86400)
def record_audit_head(session: orm.Session) -> str:
    """Daily: the head of the chain goes to a file the database cannot change."""
    return write_audit_head(session, current_app.config["AUDIT_HEAD_FILE"])
