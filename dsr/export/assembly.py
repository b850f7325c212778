"""Assembling the bundle once every system is done (or staff chose a partial one).

One ExportBundle row per (case, kind, part) (a unique constraint): a second job finds it and stops. The
bundle is built under a database lease (a dead worker's assembly is handed on by the sweep). The file
is written through the store's writer (a temporary file fsynced and renamed, or a multipart upload
completed only when it is whole) and only then recorded with a compare-and-set; the case moves to
"ready for review". A bundle holds the systems no earlier part answered for (dsr.export.parts). The
systems' spools stay until release: staff may redact the bundle or answer with a delta instead, and it
is assembled again from them (`reassemble`; dsr.export.shaping applies those choices).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from enum import StrEnum

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.bundle import content
from dsr.bundle.sealed import SealedWriter
from dsr.bundle.signing import private_key
from dsr.bundle.writer import BundleWriter
from dsr.cases import states
from dsr.cases.states import Action
from dsr.db import on_commit, utcnow
from dsr.export import storage
from dsr.export.bundle_parts import request_history, rights_text, system_parts
from dsr.export.bundle_states import BUNDLE_STATES, BundleEvent
from dsr.export.parts import next_part, open_bundle, owed_tasks
from dsr.export.shaping import answer_notes, shape_parts
from dsr.models import (
    BundleKind,
    BundleStatus,
    ExportBundle,
    RequestStatus,
    Right,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from dsr.queue import QUEUE_DEFAULT, Lease, LeaseLost, RetryLater, defer, is_final_attempt, job
from dsr.queue.lease import take
from dsr.tasks.pipeline import all_finished, lease_seconds
from dsr.tasks.registry import TaskNotRetryable
from dsr.tasks.states import FINISHED

log = logging.getLogger(__name__)
BUNDLE_PURPOSE = "bundle"


class AssemblyOutcome(StrEnum):
    """What one run of the assembly did (returned by the job: logs and tests)."""

    READY = "ready"  # the bundle is stored and waits for staff review
    GONE = "gone"  # no such case, or not an export
    NOT_IN_PROGRESS = "not-in-progress"  # withdrawn meanwhile, or already assembled
    WAITING = "waiting"  # systems still at work
    BUSY = "busy"  # another job holds the bundle
    ALREADY = "already"  # the bundle is no longer being assembled


class PartialNotAllowed(ValueError):
    """Staff asked for a partial bundle while systems are still working, or nothing failed."""


def bundle_kind(request: SubjectRequest) -> BundleKind:
    return BundleKind.PORTABILITY if request.right is Right.PORTABILITY else BundleKind.ACCESS


def _bundle_lease(session: orm.Session, bundle_id: int) -> Lease:
    return Lease(session, ExportBundle, bundle_id, lease_seconds(),
                 guard=(ExportBundle.status == BundleStatus.ASSEMBLING,))


def assemble_partial(session: orm.Session, request_id: int, staff_id: int) -> ExportBundle:
    """Staff choose, explicitly, to build the bundle without the systems that failed."""
    request = session.get(SubjectRequest, request_id)
    if request is None or request.status is not RequestStatus.IN_PROGRESS:
        raise PartialNotAllowed(_("only a case in progress can get a partial bundle"))
    tasks = owed_tasks(session, request_id)
    if any(t.state in (TaskState.PENDING, TaskState.RUNNING, TaskState.WAITING_FOR_STAFF) for t in tasks):
        raise PartialNotAllowed(_("some systems are still being worked on; wait for them or retry the failed ones"))
    failed = [t.system_key for t in tasks if t.state is TaskState.FAILED]
    if not failed:
        raise PartialNotAllowed(_("no system failed: the full bundle is assembled on its own"))
    if len(failed) == len(tasks) and next_part(session, request_id) > 1:
        raise PartialNotAllowed(_("no system still owed has anything new to send: retry the failed ones"))
    bundle = open_bundle(session, request_id)
    if bundle is None:
        bundle = ExportBundle(request_id=request_id, kind=bundle_kind(request), status=BundleStatus.ASSEMBLING,
                              partial=True, part=next_part(session, request_id))
        session.add(bundle)
    elif bundle.status is BundleStatus.ASSEMBLING:
        bundle.partial = True
    else:
        raise PartialNotAllowed(_("this case already has a bundle"))
    session.flush()
    record(session, "bundle.partial_chosen", actor_type="staff", actor_id=staff_id, request_id=request_id,
           bundle_id=bundle.id, failed=len(failed))
    defer(session, assemble_bundle, request_id, request_id=request_id)
    return bundle


def make_room_for_retry(session: orm.Session, request: SubjectRequest, task: SystemTask, staff_id: int) -> str:
    """Before a failed system of this case is retried: a partial bundle still under review is discarded
    and the case goes back to work, so the retried system's data ends up in a full bundle (the other
    systems' spools were kept for this). Returns what staff are told about it ("" when nothing)."""
    if request.status is RequestStatus.IN_PROGRESS:
        bundle = open_bundle(session, request.id)
        if bundle is not None and bundle.partial and bundle.status is BundleStatus.ASSEMBLING:
            raise TaskNotRetryable("a partial bundle is being assembled; retry the system once it is ready "
                                   "for review (that discards it)")
        return ""
    if request.status is not RequestStatus.READY_FOR_REVIEW:
        raise TaskNotRetryable(f"the case is {request.status.value.replace('_', ' ')}: nothing more is collected "
                                "for it (a released bundle cannot be changed; the subject may make a new request)")
    bundle = open_bundle(session, request.id)
    if bundle is None or bundle.status is not BundleStatus.READY_FOR_REVIEW or not bundle.partial:
        raise TaskNotRetryable("the bundle already holds every system")
    app = current_app._get_current_object()
    name = bundle.storage_name
    record(session, "bundle.partial_discarded", actor_type="staff", actor_id=staff_id, request_id=request.id,
           bundle_id=bundle.id)
    session.delete(bundle)  # one bundle per case, kind and part: the full one takes its place
    states.apply(request, Action.REOPEN_WORK)
    session.flush()
    if name:
        on_commit(session, lambda: storage.delete_bundle(name, app))
    return "The partial bundle was discarded: a full one is assembled when it is done."


def retry_assembly(session: orm.Session, request_id: int, staff_id: int) -> ExportBundle:
    """Staff start a failed assembly again (after the cause, e.g. a full disk, was fixed)."""
    bundle = open_bundle(session, request_id)
    if bundle is None or bundle.status is not BundleStatus.FAILED:
        raise PartialNotAllowed(_("this case has no failed bundle to assemble again"))
    bundle.status = BUNDLE_STATES.target(bundle.status, BundleEvent.RESTART)
    bundle.lease_until = None
    record(session, "bundle.retried", actor_type="staff", actor_id=staff_id, request_id=request_id,
           bundle_id=bundle.id)
    defer(session, assemble_bundle, request_id, request_id=request_id)
    session.flush()
    return bundle


def reassemble(session: orm.Session, request: SubjectRequest, staff_id: int, why: str) -> ExportBundle:
    """The bundle under review is assembled again from the kept spools (after staff redacted it, or chose a
    full or delta answer): its file is deleted once this commits, the case goes back to work until the new
    one is ready. `why` names the change in the audit log."""
    bundle = open_bundle(session, request.id)
    if bundle is None or bundle.status is not BundleStatus.READY_FOR_REVIEW:
        raise PartialNotAllowed(_("only a bundle ready for review can be assembled again"))
    name = bundle.storage_name
    bundle.status = BUNDLE_STATES.target(bundle.status, BundleEvent.REASSEMBLE)
    bundle.storage_name = bundle.sha256 = bundle.manifest_sha256 = None
    bundle.size_bytes = bundle.ready_at = bundle.lease_until = None
    states.apply(request, Action.REOPEN_WORK)
    record(session, "bundle.reassembled", actor_type="staff", actor_id=staff_id, request_id=request.id,
           bundle_id=bundle.id, change=why)
    session.flush()
    defer(session, assemble_bundle, request.id, request_id=request.id)
    if name:
        app = current_app._get_current_object()
        on_commit(session, lambda: storage.delete_bundle(name, app))
    return bundle


def defer_assembly_if_complete(session: orm.Session, request_id: int) -> bool:
    """After a person finished the last system: the assembly job is deferred (nothing else would)."""
    if all_finished(session, request_id, TaskAction.EXPORT):
        defer(session, assemble_bundle, request_id, request_id=request_id)
        return True
    return False


def claim_new_bundle(session: orm.Session, request: SubjectRequest) -> ExportBundle | None:
    """The bundle row, created already leased to the caller (in the caller's transaction, in a savepoint:
    a concurrent creator wins and this returns None without undoing the caller's other changes)."""
    bundle = ExportBundle(request_id=request.id, kind=bundle_kind(request), status=BundleStatus.ASSEMBLING,
                          part=next_part(session, request.id), lease_until=_bundle_lease(session, 0).until())
    try:
        with session.begin_nested():
            session.add(bundle)
    except sa.exc.IntegrityError:
        return None  # another job made it first
    return bundle


def assemble_after_last_export(session: orm.Session, request: SubjectRequest) -> None:
    """The last system is done: assemble in the export job rather than publish a job that would (one
    hop, a few commits less). The bundle row is created leased in the same commit as the task's end,
    so a worker dying from here on leaves a lapsed lease the sweep hands to the assembly job; a failure
    hands it to that job (with its retries) at once."""
    bundle = claim_new_bundle(session, request)
    if bundle is None:  # staff's partial bundle, or another job's: the assembly job sorts it out
        defer(session, assemble_bundle, request.id, request_id=request.id)
        return
    lease = _bundle_lease(session, bundle.id)
    lease.commit()  # the task's end and the bundle's lease, in one commit
    try:
        build_bundle(session, request, bundle, owed_tasks(session, request.id), lease, final_attempt=False)
    except Exception as exc:  # noqa: BLE001 (the export is done and stays done: only the assembly is retried)
        log.warning("assembly of request %s after its last export failed (%s); the assembly job retries it",
                    request.id, type(exc).__name__)
        defer(session, assemble_bundle, request.id, request_id=request.id)


def assemble(session: orm.Session, request_id: int, *, final_attempt: bool = True) -> AssemblyOutcome:
    """The body of the assembly job (idempotent). A failure on the final attempt marks the bundle
    failed (staff see it and may `retry_assembly`)."""
    request = session.get(SubjectRequest, request_id)
    if request is None or request.right not in (Right.ACCESS, Right.PORTABILITY):
        return AssemblyOutcome.GONE
    if request.status is not RequestStatus.IN_PROGRESS:
        return AssemblyOutcome.NOT_IN_PROGRESS
    tasks = owed_tasks(session, request_id)
    complete = bool(tasks) and all(t.state in FINISHED for t in tasks)
    bundle = open_bundle(session, request_id)
    if bundle is None:
        if not complete:
            return AssemblyOutcome.WAITING
        bundle = claim_new_bundle(session, request)
        if bundle is None:
            return AssemblyOutcome.BUSY
        lease = _bundle_lease(session, bundle.id)
        lease.commit()  # created and claimed in one commit
        return build_bundle(session, request, bundle, tasks, lease, final_attempt=final_attempt)
    if bundle.status is not BundleStatus.ASSEMBLING:
        return AssemblyOutcome.ALREADY
    if not complete and not bundle.partial:
        return AssemblyOutcome.WAITING
    now = utcnow()
    claimed = take(session, ExportBundle, bundle.id, lease_seconds(), values={}, when=(
        ExportBundle.status == BundleStatus.ASSEMBLING,
        sa.or_(ExportBundle.lease_until.is_(None), ExportBundle.lease_until < now)))
    if not claimed:
        return AssemblyOutcome.BUSY
    return build_bundle(session, request, bundle, tasks, _bundle_lease(session, bundle.id),
                        final_attempt=final_attempt)


def build_bundle(session: orm.Session, request: SubjectRequest, bundle: ExportBundle, tasks: list, lease: Lease,
                 *, final_attempt: bool) -> AssemblyOutcome:
    """Write the bundle the caller holds the lease of, store it and move the case to review. The
    caller commits (the job decorator, with its outbox row); the spools are removed after that commit.
    A failure gives the lease back (and fails the bundle on the last attempt) and raises RetryLater."""
    app = current_app._get_current_object()
    request_id = request.id
    name = f"bundle-{bundle.id}-{secrets.token_hex(8)}.zip.sealed"
    try:  # the store's writer leaves nothing behind when this fails
        size, digest, manifest_sha = _write(session, request, bundle, tasks, storage.bundle_key(name), lease)
    except LeaseLost:
        session.rollback()
        return AssemblyOutcome.BUSY  # another job took the assembly over
    except Exception as exc:
        session.rollback()
        if final_attempt:
            BUNDLE_STATES.move(session, bundle.id, BundleEvent.FAIL, lease_until=None)
            record(session, "bundle.failed", actor_type="system", request_id=request_id, bundle_id=bundle.id)
        else:
            session.execute(sa.update(ExportBundle).where(ExportBundle.id == bundle.id,
                                                          ExportBundle.status == BundleStatus.ASSEMBLING)
                            .values(lease_until=None))
        raise RetryLater(f"the bundle could not be written ({type(exc).__name__})") from exc
    session.refresh(request, with_for_update=True)  # serialises this with a withdrawal; one round trip
    stored = BUNDLE_STATES.move(session, bundle.id, BundleEvent.STORED, where=(ExportBundle.storage_name.is_(None),),
                                storage_name=name, size_bytes=size, sha256=digest, manifest_sha256=manifest_sha,
                                ready_at=utcnow(), lease_until=None,
                                systems=[t.system_key for t in tasks if t.state in FINISHED])
    if not stored:
        session.rollback()
        storage.delete_bundle(name, app)
        return AssemblyOutcome.ALREADY
    if request.status is RequestStatus.IN_PROGRESS:
        states.apply(request, Action.BUNDLE_READY)
    record(session, "bundle.ready", actor_type="system", request_id=request_id, bundle_id=bundle.id,
           sha256=digest, partial=bundle.partial, part=bundle.part)
    session.flush()
    # The spools stay until release (dsr.export.release removes them): staff may still redact the bundle
    # or choose a delta answer, and a partial bundle's failed system may be retried into a full one.
    return AssemblyOutcome.READY


def _write(session, request, bundle, tasks, key: str, lease: Lease) -> tuple[int, str, str]:
    app = current_app._get_current_object()
    store = storage.get_store(app)
    language = request.language if request.language in ("en", "nb") else "en"
    systems = system_parts(tasks, request, language, app)
    notes = answer_notes(session, request, bundle, systems, language, app)
    shape_parts(session, request, bundle, systems, notes, app)  # redactions, a delta
    history = request_history(session, request)
    rights = rights_text(language)
    with store.writer(key) as raw:  # visible under `key` only once whole
        sealed = SealedWriter(raw, storage.sealing_key(app), BUNDLE_PURPOSE)
        writer = BundleWriter(sealed, compresslevel=int(app.config["BUNDLE_COMPRESSLEVEL"]))
        for path, chunks, expected in content.members(
                kind=bundle.kind.value, language=language, reference=request.reference,
                controller=app.extensions["dsr.controller"], systems=systems, history=history, rights=rights,
                store=store, master=storage.opening_keys(app), partial=bundle.partial, notes=notes):
            writer.add(path, chunks, expected_size=expected)
            lease.renew_due()
        manifest = writer.finish(private_key(app.config["SIGNING_KEY"]), {
            "kind": bundle.kind.value, "reference": request.reference, "language": language,
            "controller": app.extensions["dsr.controller"].name, "partial": bundle.partial, "part": bundle.part,
            "changes_since": notes.changes_since.isoformat() if notes.changes_since else None,
            "generated_at": utcnow().isoformat(timespec="seconds"),
        })
        sealed.close()
    return sealed.size, sealed.sha256.hexdigest(), hashlib.sha256(manifest).hexdigest()


@job(QUEUE_DEFAULT)
def assemble_bundle(session: orm.Session, request_id: int) -> str:
    """The assembly job of one case."""
    return assemble(session, request_id, final_attempt=is_final_attempt())
