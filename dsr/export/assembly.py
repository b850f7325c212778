"""Assembling the bundle once every system is done (or staff chose a partial one).

One ExportBundle row per (case, kind) (a unique constraint): a second job finds it and
stops. The file is written to a temporary name, fsynced, renamed, and only then recorded
with a compare-and-set; the case moves to "ready for review".
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.bundle import content
from dsr.bundle.sealed import SealedWriter, durable_replace
from dsr.bundle.signing import private_key
from dsr.bundle.writer import BundleWriter
from dsr.cases import states
from dsr.cases.states import Action
from dsr.connectors.registry import get_systems
from dsr.db import on_commit, utcnow
from dsr.export import storage
from dsr.export.tasks import FINISHED, export_tasks
from dsr.jobs import defer
from dsr.models import (
    BundleKind,
    BundleStatus,
    ExportBundle,
    Message,
    MessageDirection,
    RequestStatus,
    Right,
    SubjectRequest,
    TaskState,
)

log = logging.getLogger(__name__)
BUNDLE_PURPOSE = "bundle"


class PartialNotAllowed(ValueError):
    """Staff asked for a partial bundle while systems are still working, or nothing failed."""


def bundle_kind(request: SubjectRequest) -> BundleKind:
    return BundleKind.PORTABILITY if request.right is Right.PORTABILITY else BundleKind.ACCESS


def assemble_partial(session: orm.Session, request_id: int, staff_id: int) -> ExportBundle:
    """Staff choose, explicitly, to build the bundle without the systems that failed."""
    request = session.get(SubjectRequest, request_id)
    if request is None or request.status is not RequestStatus.IN_PROGRESS:
        raise PartialNotAllowed("only a case in progress can get a partial bundle")
    tasks = export_tasks(session, request_id)
    if any(t.state in (TaskState.PENDING, TaskState.RUNNING, TaskState.WAITING_FOR_STAFF) for t in tasks):
        raise PartialNotAllowed("some systems are still being worked on; wait for them or retry the failed ones")
    failed = [t.system_key for t in tasks if t.state is TaskState.FAILED]
    if not failed:
        raise PartialNotAllowed("no system failed: the full bundle is assembled on its own")
    kind = bundle_kind(request)
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request_id,
                                                          ExportBundle.kind == kind))
    if bundle is None:
        bundle = ExportBundle(request_id=request_id, kind=kind, status=BundleStatus.ASSEMBLING, partial=True)
        session.add(bundle)
    elif bundle.status is BundleStatus.ASSEMBLING:
        bundle.partial = True
    else:
        raise PartialNotAllowed("this case already has a bundle")
    session.flush()
    record(session, "bundle.partial_chosen", actor_type="staff", actor_id=staff_id, request_id=request_id,
           bundle_id=bundle.id, failed=len(failed))
    defer(session, "assemble_bundle", request_id, request_id=request_id)
    return bundle


def make_room_for_retry(session: orm.Session, request: SubjectRequest, staff_id: int) -> bool:
    """Before a failed system of this case is retried: a partial bundle still under review is discarded
    and the case goes back to work, so the retried system's data ends up in a full bundle (the other
    systems' spools were kept for this). Returns whether a partial bundle was discarded."""
    if request.status is RequestStatus.IN_PROGRESS:
        bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request.id))
        if bundle is not None and bundle.partial and bundle.status is BundleStatus.ASSEMBLING:
            raise PartialNotAllowed("a partial bundle is being assembled; retry the system once it is ready "
                                    "for review (that discards it)")
        return False
    if request.status is not RequestStatus.READY_FOR_REVIEW:
        raise PartialNotAllowed(f"the case is {request.status.value.replace('_', ' ')}: nothing more is collected "
                                "for it (a released bundle cannot be changed; the subject may make a new request)")
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request.id,
                                                          ExportBundle.status == BundleStatus.READY_FOR_REVIEW))
    if bundle is None or not bundle.partial:
        raise PartialNotAllowed("the bundle already holds every system")
    app = current_app._get_current_object()
    path = storage.bundles_dir(app) / bundle.storage_name if bundle.storage_name else None
    record(session, "bundle.partial_discarded", actor_type="staff", actor_id=staff_id, request_id=request.id,
           bundle_id=bundle.id)
    session.delete(bundle)  # one bundle per case and kind: the full one takes its place
    states.apply(request, Action.REOPEN_WORK)
    session.flush()
    if path is not None:
        on_commit(session, lambda: path.unlink(missing_ok=True))
    return True


def retry_assembly(session: orm.Session, request_id: int, staff_id: int) -> ExportBundle:
    """Staff start a failed assembly again (after the cause, e.g. a full disk, was fixed)."""
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request_id,
                                                          ExportBundle.status == BundleStatus.FAILED))
    if bundle is None:
        raise PartialNotAllowed("this case has no failed bundle to assemble again")
    bundle.status = BundleStatus.ASSEMBLING
    bundle.lease_until = None
    record(session, "bundle.retried", actor_type="staff", actor_id=staff_id, request_id=request_id,
           bundle_id=bundle.id)
    defer(session, "assemble_bundle", request_id, request_id=request_id)
    session.flush()
    return bundle


def claim_new_bundle(session: orm.Session, request: SubjectRequest, lease: timedelta) -> ExportBundle | None:
    """The bundle row, created already leased to the caller (in the caller's transaction, in a savepoint:
    a concurrent creator wins and this returns None without undoing the caller's other changes)."""
    bundle = ExportBundle(request_id=request.id, kind=bundle_kind(request), status=BundleStatus.ASSEMBLING,
                          lease_until=utcnow() + lease)
    try:
        with session.begin_nested():
            session.add(bundle)
    except sa.exc.IntegrityError:
        return None  # another job made it first
    return bundle


def _lease_of(app) -> timedelta:
    return timedelta(seconds=float(app.config["EXPORT_LEASE_SECONDS"]))


def assemble_bundle(session: orm.Session, request_id: int, *, final_attempt: bool = True) -> str:
    """The body of the assembly job (idempotent); owns its transactions like the export job.
    A failure on the final attempt marks the bundle failed (staff see it and may `retry_assembly`)."""
    app = current_app._get_current_object()
    request = session.get(SubjectRequest, request_id)
    if request is None or request.right not in (Right.ACCESS, Right.PORTABILITY):
        return "gone"
    if request.status is not RequestStatus.IN_PROGRESS:
        return "not-in-progress"  # withdrawn meanwhile, or already assembled
    kind = bundle_kind(request)
    tasks = export_tasks(session, request_id)
    complete = bool(tasks) and all(t.state in FINISHED for t in tasks)
    query = sa.select(ExportBundle).where(ExportBundle.request_id == request_id, ExportBundle.kind == kind)
    bundle = session.scalar(query)
    lease = _lease_of(app)
    if bundle is None:
        if not complete:
            return "waiting"
        bundle = claim_new_bundle(session, request, lease)  # created and claimed in one commit
        session.commit()
        if bundle is None:
            return "busy"
        return build_bundle(session, request, bundle, tasks, final_attempt=final_attempt)
    if bundle.status is not BundleStatus.ASSEMBLING:
        return "already"
    if not complete and not bundle.partial:
        return "waiting"
    now = utcnow()
    claimed = session.execute(sa.update(ExportBundle).where(
        ExportBundle.id == bundle.id, ExportBundle.status == BundleStatus.ASSEMBLING,
        sa.or_(ExportBundle.lease_until.is_(None), ExportBundle.lease_until < now)).values(lease_until=now + lease)
    ).rowcount
    session.commit()
    if not claimed:
        return "busy"
    return build_bundle(session, request, bundle, tasks, final_attempt=final_attempt)


def build_bundle(session: orm.Session, request: SubjectRequest, bundle: ExportBundle, tasks: list, *,
                 final_attempt: bool) -> str:
    """Write the bundle the caller holds the lease of, store it and move the case to review. The
    caller commits (the job decorator, with its outbox row); the spools are removed after that commit."""
    app = current_app._get_current_object()
    request_id = request.id
    final = storage.bundles_dir(app) / f"bundle-{bundle.id}-{secrets.token_hex(8)}.zip.sealed"
    temp = final.with_name(f".tmp-{final.name}")
    try:
        size, digest, manifest_sha = _write(session, request, bundle, tasks, temp, _lease_of(app))
        durable_replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        session.rollback()
        values = {"lease_until": None}
        if final_attempt:
            values["status"] = BundleStatus.FAILED
        session.execute(sa.update(ExportBundle).where(ExportBundle.id == bundle.id,
                                                      ExportBundle.status == BundleStatus.ASSEMBLING).values(**values))
        if final_attempt:
            record(session, "bundle.failed", actor_type="system", request_id=request_id, bundle_id=bundle.id)
        session.commit()
        raise
    session.refresh(request, with_for_update=True)  # serialises this with a withdrawal; one round trip
    stored = session.execute(sa.update(ExportBundle).where(
        ExportBundle.id == bundle.id, ExportBundle.status == BundleStatus.ASSEMBLING,
        ExportBundle.storage_name.is_(None)).values(
        status=BundleStatus.READY_FOR_REVIEW, storage_name=final.name, size_bytes=size, sha256=digest,
        manifest_sha256=manifest_sha, ready_at=utcnow(), lease_until=None)).rowcount
    if not stored:
        session.rollback()
        final.unlink(missing_ok=True)
        return "already"
    if request.status is RequestStatus.IN_PROGRESS:
        states.apply(request, Action.BUNDLE_READY)
    record(session, "bundle.ready", actor_type="system", request_id=request_id, bundle_id=bundle.id,
           sha256=digest, partial=bundle.partial)
    session.flush()
    # The bundle holds the data now: no loose copies of personal data, once that is committed. A partial
    # bundle's spools stay until it is released, so a failed system retried meanwhile joins a full bundle.
    if not bundle.partial:
        on_commit(session, lambda: storage.remove_request_spool(request_id, app))
    return "ready"


class _KeepLease:
    """Renews the assembly lease between members, at most every third of the lease (a commit each)."""

    def __init__(self, session: orm.Session, bundle_id: int, lease: timedelta):
        self.session, self.bundle_id, self.lease = session, bundle_id, lease
        self.last = time.monotonic()

    def renew(self) -> None:
        if time.monotonic() - self.last < self.lease.total_seconds() / 3:
            return
        self.session.execute(sa.update(ExportBundle).where(ExportBundle.id == self.bundle_id)
                             .values(lease_until=utcnow() + self.lease))
        self.session.commit()
        self.last = time.monotonic()


def _write(session, request, bundle, tasks, temp: Path, lease: timedelta) -> tuple[int, str, str]:
    app = current_app._get_current_object()
    master = storage.sealing_key(app)
    language = request.language if request.language in ("en", "nb") else "en"
    systems = _system_parts(tasks, request, language, app)
    history = request_history(session, request)
    rights = rights_text(language)
    keeper = _KeepLease(session, bundle.id, lease)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw:
        sealed = SealedWriter(raw, master, BUNDLE_PURPOSE)
        writer = BundleWriter(sealed, compresslevel=int(app.config["BUNDLE_COMPRESSLEVEL"]))
        for path, chunks, expected in content.members(
                kind=bundle.kind.value, language=language, reference=request.reference,
                controller=app.extensions["dsr.controller"], systems=systems, history=history, rights=rights,
                master=master, partial=bundle.partial):
            writer.add(path, chunks, expected_size=expected)
            keeper.renew()
        manifest = writer.finish(private_key(app.config["SIGNING_KEY"]), {
            "kind": bundle.kind.value, "reference": request.reference, "language": language,
            "controller": app.extensions["dsr.controller"].name, "partial": bundle.partial,
            "generated_at": utcnow().isoformat(timespec="seconds"),
        })
        sealed.close()
    return sealed.size, sealed.sha256.hexdigest(), hashlib.sha256(manifest).hexdigest()


def _system_parts(tasks, request, language, app) -> list[content.SystemPart]:
    systems = get_systems(app)
    parts = []
    for task in tasks:
        system = systems.get(task.system_key)
        if system is None:
            continue
        result = task.result or {}
        collections = [content.CollectionPart(name, info["records"], info["fields"], info)
                       for name, info in (result.get("collections") or {}).items() if info["records"]]
        upload = None
        if result.get("upload"):
            upload = {**result["upload"], "path": storage.upload_path(request.id, task.id, app)}
        records = sum(c.records for c in collections) + (1 if upload else 0)
        if task.state not in FINISHED:
            status = "not_collected"
        else:
            status = "collected" if records else "nothing_found"
        spool_dir = storage.request_spool(request.id, app) / result["spool"] if result.get("spool") else None
        name = (system.connector.settings.get("name_nb") if language == "nb" else None) or system.name
        parts.append(content.SystemPart(key=task.system_key, name=name, kind=system.connector.kind,
                                        status=status, facts=content.facts_for(system, language),
                                        spool_dir=spool_dir, collections=collections, upload=upload,
                                        records=records))
    return parts


def request_history(session: orm.Session, request: SubjectRequest) -> list[dict]:
    """The subject's own requests (same verified address), with what was said to and by them."""
    requests = session.scalars(sa.select(SubjectRequest).where(
        sa.func.lower(SubjectRequest.email) == request.email.lower()).order_by(SubjectRequest.id)).all()
    by_request: dict[int, list[Message]] = {item.id: [] for item in requests}
    for message in session.scalars(sa.select(Message).where(
            Message.request_id.in_(list(by_request)),
            Message.direction.in_([MessageDirection.TO_SUBJECT, MessageDirection.FROM_SUBJECT]))
            .order_by(Message.id)):
        by_request[message.request_id].append(message)
    history = []
    for item in requests:
        messages = by_request[item.id]
        history.append({
            "reference": item.reference, "right": item.right.value, "status": item.status.value,
            "channel": item.channel.value, "received_at": item.received_at, "verified_at": item.verified_at,
            "identity_method": item.identity_method, "due_on": item.due_on, "extended_due_on": item.extended_due_on,
            "extension_reason": item.extension_reason, "decided_at": item.decided_at,
            "rejection_code": item.rejection_code, "rejection_text": item.rejection_text, "closed_at": item.closed_at,
            "details": item.details or {},
            "messages": [{"direction": m.direction.value, "channel": m.channel.value, "subject": m.subject_line,
                          "text": m.body_text, "created_at": m.created_at, "sent_at": m.sent_at} for m in messages],
        })
    return history


def rights_text(language: str) -> dict[str, str]:
    """Art. 15(1)(e)-(f): the rights the subject has about this data, in their language."""
    authority = current_app.extensions["dsr.controller"].authority
    with force_locale(language):
        return {
            "rectification": _("You can ask us to correct data about you that is wrong, or to complete it "
                               "(Art. 16)."),
            "erasure": _("You can ask us to delete your data; we tell you what the law makes us keep, why and "
                         "until when (Art. 17)."),
            "restriction": _("You can ask us to limit our use of your data, for example while we check that it "
                             "is correct (Art. 18)."),
            "objection": _("You can object to our use of your data based on legitimate interests, and to direct "
                           "marketing at any time (Art. 21)."),
            "portability": _("You can receive the data you gave us in a machine-readable file (Art. 20)."),
            "complaint": _("You can complain to %(authority)s, %(address)s, if you think we handle your data "
                           "unlawfully (Art. 77).", authority=authority.name, address=authority.address),
        }
