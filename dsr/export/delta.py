"""A repeat access request answered with what changed since the last answer (a delta bundle).

When an access bundle is released, its records are kept comparable without their content: per record a
keyed hash of its key (the collection's primary key or `record_key`; the whole record where it has none)
and one of its content, per system and collection (RecordDigest), under a key derived from
DSR_ENCRYPTION_KEY (HMAC-SHA256 cut to 128 bits). That runs in a job right after the release, which then
deletes the spools the bundle was made from. A later access request of the same verified subject may then
be answered with the records that are new or changed since, and the number of those removed: the
collected records are compared with the digests as the bundle is assembled (dsr.export.shaping). The
digests are of everything collected, so a delta answer can itself be the base of the next one.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.bundle import spool
from dsr.bundle.sealed import master_key
from dsr.db import on_commit, utcnow
from dsr.deadlines.rules import local_date
from dsr.export import storage
from dsr.models import BundleKind, ExportBundle, RecordDigest, Right, SubjectRequest, SystemTask, TaskState
from dsr.queue import QUEUE_DEFAULT, job

log = logging.getLogger(__name__)

_BATCH = 5000
#: a released bundle's spools are kept this long for its digest job (then the hourly sweep may remove them)
DIGEST_GRACE = timedelta(days=1)


def digest_keys(app: Flask | None = None) -> dict[str, bytes]:
    """The digest keys by id: from DSR_ENCRYPTION_KEY first, then each fallback (an answer digested before a
    rotation stays comparable while its key is listed)."""
    config = (app or current_app).config
    keys: dict[str, bytes] = {}
    for encryption_key in [config["ENCRYPTION_KEY"], *(config.get("ENCRYPTION_KEY_FALLBACKS") or [])]:
        key = hmac.new(master_key(encryption_key), b"dsr.delta.v1", hashlib.sha256).digest()
        keys.setdefault(hashlib.sha256(key).hexdigest()[:16], key)
    return keys


def key_digest(key: bytes, record: dict[str, Any], key_field: str | None, line: bytes) -> str:
    """The keyed hash of a record's identity: its key field's value, or its whole content without one."""
    if key_field and record.get(key_field) is not None:
        identity = b"k" + json.dumps(record[key_field], default=str).encode()
    else:
        identity = b"c" + line
    return hmac.new(key, identity, hashlib.sha256).hexdigest()[:32]


def content_digest(key: bytes, line: bytes) -> str:
    return hmac.new(key, b"v" + line, hashlib.sha256).hexdigest()[:32]


# --- kept at release ----------------------------------------------------------------------------------


def released_tasks(session: orm.Session, bundle: ExportBundle) -> list[SystemTask]:
    """The finished export tasks whose systems the bundle answers for."""
    tasks = session.scalars(sa.select(SystemTask).where(SystemTask.request_id == bundle.request_id,
                                                        SystemTask.system_key.in_(bundle.systems or [])))
    return [t for t in tasks if t.state is TaskState.DONE]


def keep_digests(session: orm.Session, bundle_id: int) -> int:
    """The body of the job: digests of every collected record of the bundle's systems (idempotent: a second
    run finds them kept). Returns how many records were digested."""
    bundle = session.get(ExportBundle, bundle_id)
    if bundle is None or bundle.kind is not BundleKind.ACCESS or bundle.released_at is None \
            or bundle.digests_at is not None:
        return 0
    app = current_app._get_current_object()
    store = storage.get_store(app)
    key_id, key = next(iter(digest_keys(app).items()))
    session.execute(sa.delete(RecordDigest).where(RecordDigest.bundle_id == bundle.id))  # a previous attempt's
    tasks = released_tasks(session, bundle)
    prefix = storage.request_spool(bundle.request_id)
    present = set(store.children(prefix))
    count, rows, complete = 0, [], True
    for task in tasks:
        result = task.result or {}
        collections = {name: info for name, info in (result.get("collections") or {}).items() if info.get("records")}
        if collections and result.get("spool") not in present:
            complete = False  # removed meanwhile (the spools outlived their grace): this answer is not comparable
            break
        for name, info in collections.items():
            source = f"{prefix}/{result['spool']}"
            for line in spool.json_lines(store, source, name, storage.opening_keys(app)):
                rows.append({"bundle_id": bundle.id, "system_key": task.system_key, "collection": name,
                             "key_digest": key_digest(key, json.loads(line), info.get("key"), line),
                             "content_digest": content_digest(key, line)})
                if len(rows) >= _BATCH:
                    session.execute(sa.insert(RecordDigest), rows)
                    count, rows = count + len(rows), []
    if not complete:
        session.execute(sa.delete(RecordDigest).where(RecordDigest.bundle_id == bundle.id))
        bundle.digests_at, bundle.digest_key = utcnow(), None
        record(session, "bundle.digests_missing", actor_type="system", request_id=bundle.request_id,
               bundle_id=bundle.id)
        return 0
    if rows:
        session.execute(sa.insert(RecordDigest), rows)
        count += len(rows)
    bundle.digests_at, bundle.digest_key = utcnow(), key_id
    record(session, "bundle.digests_kept", actor_type="system", request_id=bundle.request_id, bundle_id=bundle.id,
           records=count)
    session.flush()
    on_commit(session, lambda: storage.remove_spools_of(bundle.request_id, tasks, bundle.id, app))
    return count


@job(QUEUE_DEFAULT)
def keep_release_digests(session: orm.Session, bundle_id: int) -> int:
    """After an access bundle's release: its records' digests, then its spools are deleted."""
    return keep_digests(session, bundle_id)


def spools_awaiting_digests(session: orm.Session) -> set[int]:
    """Cases whose released access bundle still waits for its digest job (its spools must stay)."""
    return set(session.scalars(sa.select(ExportBundle.request_id).where(
        ExportBundle.kind == BundleKind.ACCESS, ExportBundle.released_at > utcnow() - DIGEST_GRACE,
        ExportBundle.digests_at.is_(None))))


# --- compared at the next answer ------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlierAnswer:
    """The last access answer a subject received, as far as it can be compared."""

    request: SubjectRequest
    released_on: date  # the controller's local date of its last part
    bundle_ids: tuple[int, ...]
    key_id: str | None  # None: its records were not kept comparable (or its key is no longer listed)

    @property
    def comparable(self) -> bool:
        return self.key_id is not None


def earlier_answer(session: orm.Session, request: SubjectRequest) -> EarlierAnswer | None:
    """The latest access answer released to the same verified subject before this request, or None."""
    if request.right is not Right.ACCESS or not request.email:
        return None
    earlier = session.scalars(sa.select(SubjectRequest).where(
        sa.func.lower(SubjectRequest.email) == request.email.lower(), SubjectRequest.right == Right.ACCESS,
        SubjectRequest.id < request.id, SubjectRequest.verified_at.is_not(None)).order_by(SubjectRequest.id.desc()))
    keys = digest_keys()
    timezone = current_app.extensions["dsr.controller"].timezone
    for candidate in earlier:
        bundles = session.scalars(sa.select(ExportBundle).where(
            ExportBundle.request_id == candidate.id, ExportBundle.kind == BundleKind.ACCESS,
            ExportBundle.released_at.is_not(None)).order_by(ExportBundle.part)).all()
        if not bundles:
            continue
        key_ids = {b.digest_key for b in bundles}
        key_id = key_ids.pop() if len(key_ids) == 1 else None
        return EarlierAnswer(request=candidate, released_on=local_date(max(b.released_at for b in bundles), timezone),
                             bundle_ids=tuple(b.id for b in bundles), key_id=key_id if key_id in keys else None)
    return None


def answer_of(session: orm.Session, request_id: int) -> EarlierAnswer | None:
    """The earlier answer a delta bundle of `request_id`'s case compares with (its own request's rule)."""
    request = session.get(SubjectRequest, request_id)
    return earlier_answer(session, request) if request is not None else None


def earlier_digests(session: orm.Session, answer: EarlierAnswer) -> dict[tuple[str, str], dict[str, str]]:
    """{(system, collection): {key digest: content digest}} of the earlier answer."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    rows = session.execute(sa.select(RecordDigest.system_key, RecordDigest.collection, RecordDigest.key_digest,
                                     RecordDigest.content_digest)
                           .where(RecordDigest.bundle_id.in_(answer.bundle_ids)))
    for system_key, collection, key, content in rows:
        found.setdefault((system_key, collection), {})[key] = content
    return found


class Comparison:
    """One collection compared with the earlier answer, record by record (a rewrite's `keep`)."""

    def __init__(self, key: bytes, key_field: str | None, earlier: dict[str, str]):
        self.key, self.key_field, self.earlier = key, key_field, earlier
        self.seen: set[str] = set()
        self.new = self.changed = 0

    def keep(self, record: dict[str, Any], line: bytes) -> bool:
        """New or changed: in the bundle; unchanged: not."""
        identity = key_digest(self.key, record, self.key_field, line)
        self.seen.add(identity)
        before = self.earlier.get(identity)
        if before is None:
            self.new += 1
            return True
        if before != content_digest(self.key, line):
            self.changed += 1
            return True
        return False

    def counts(self) -> dict[str, int]:
        return {"new": self.new, "changed": self.changed, "removed": len(self.earlier.keys() - self.seen)}
