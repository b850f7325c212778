"""One export task per (case, system): started at approval, run by a job, guarded by a DB lease.

The database is the source of truth. A job claims its task with a compare-and-set (pending,
or running with a lapsed lease), keeps the lease fresh while it streams, and finishes with a
compare-and-set on its own attempt number, so a worker that was presumed dead cannot
overwrite the work of the one that took over. The sweeper (a periodic job) hands tasks whose
lease lapsed to a new job without waiting for RQ to notice the dead worker.

These functions own their transactions (unlike request-side services): the claim and the
heartbeats must be visible to other workers while the export is still running.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.connectors.base import ConnectorError, Identity, SubjectRef
from dsr.connectors.registry import get_systems
from dsr.db import utcnow
from dsr.export import storage
from dsr.export.readahead import read_ahead
from dsr.export.spool import SpoolWriter
from dsr.fulfilment import starter, task_runner
from dsr.jobs import defer
from dsr.models import (
    BundleStatus,
    ExportBundle,
    OutboxJob,
    RequestStatus,
    Right,
    SubjectLocation,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)

log = logging.getLogger(__name__)

EXPORT_JOB = "export_system"
ASSEMBLE_JOB = "assemble_bundle"
FINISHED = (TaskState.DONE, TaskState.SKIPPED)

task_runner(TaskAction.EXPORT, EXPORT_JOB)


class RetryLater(Exception):
    """Raised out of the job so RQ retries it with backoff; the message is safe to show staff."""


class LeaseLost(Exception):
    """Another worker took this task over (our lease lapsed): stop without writing anything."""


@starter(Right.ACCESS, Right.PORTABILITY)
def start_export(session: orm.Session, request: SubjectRequest) -> None:
    """Inside the approval transaction: one task per declared system, each job deferred via the outbox.

    Where the intake lookup found the subject, its ref goes on the task, so the job skips `locate`;
    systems whose lookup errored or found nothing are located again by the job."""
    existing = set(session.scalars(sa.select(SystemTask.system_key).where(
        SystemTask.request_id == request.id, SystemTask.action == TaskAction.EXPORT)))
    located = located_refs(session, request.id)
    for key in get_systems(current_app):
        if key in existing:
            continue
        task = SystemTask(request_id=request.id, system_key=key, action=TaskAction.EXPORT, state=TaskState.PENDING,
                          result={"ref": located[key]} if key in located else {})
        session.add(task)
        session.flush()
        defer(session, EXPORT_JOB, task.id, request_id=request.id)
    record(session, "export.started", actor_type="system", request_id=request.id, kind=request.right.value)


def located_refs(session: orm.Session, request_id: int) -> dict[str, dict]:
    """The intake lookup's refs (SubjectRef.to_json()) of the systems where it found the subject."""
    rows = session.scalars(sa.select(SubjectLocation).where(
        SubjectLocation.request_id == request_id, SubjectLocation.found.is_(True), SubjectLocation.error.is_(None)))
    return {row.system_key: row.ref for row in rows if row.ref}


def _lease(app) -> timedelta:
    return timedelta(seconds=float(app.config["EXPORT_LEASE_SECONDS"]))


def _claim(session: orm.Session, task_id: int) -> int | None:
    """Take the task; returns our attempt number, or None when it is not ours to run."""
    now = utcnow()
    attempt = session.execute(
        sa.update(SystemTask)
        .where(SystemTask.id == task_id, SystemTask.action == TaskAction.EXPORT,
               sa.or_(SystemTask.state == TaskState.PENDING,
                      sa.and_(SystemTask.state == TaskState.RUNNING, SystemTask.lease_until < now)))
        .values(state=TaskState.RUNNING, attempts=SystemTask.attempts + 1, lease_until=now + _lease(current_app),
                started_at=sa.func.coalesce(SystemTask.started_at, now), last_error=None)
        .returning(SystemTask.attempts)
    ).scalar()
    session.commit()
    return attempt


class Heartbeat:
    """Renews the lease and shows progress (records so far) every third of the lease."""

    def __init__(self, session: orm.Session, task_id: int, attempt: int):
        self.session, self.task_id, self.attempt = session, task_id, attempt
        # Often enough for the case page's "records so far", and well within the lease.
        self.interval = min(float(current_app.config["EXPORT_LEASE_SECONDS"]) / 3, 5.0)
        self.last = time.monotonic()

    def maybe(self, records: int) -> None:
        if time.monotonic() - self.last >= self.interval:
            self.beat(records)

    def beat(self, records: int, **values) -> None:
        renewed = self.session.execute(
            sa.update(SystemTask)
            .where(SystemTask.id == self.task_id, SystemTask.attempts == self.attempt,
                   SystemTask.state == TaskState.RUNNING)
            .values(lease_until=utcnow() + _lease(current_app), records=records, **values)
        ).rowcount
        self.session.commit()
        self.last = time.monotonic()
        if not renewed:
            raise LeaseLost()


def subject_ref(task: SystemTask, system, request: SubjectRequest) -> SubjectRef:
    """Reuse the ref an earlier attempt (or the intake lookup) stored; otherwise locate now.

    Only the verified e-mail is used: a phone the subject typed is never a key to anyone's data.
    """
    stored = (task.result or {}).get("ref")
    if stored:
        return SubjectRef.from_json(stored)
    return system.connector.locate(Identity(email=request.email))


def _staff_message(exc: Exception, system_key: str) -> str:
    if isinstance(exc, ConnectorError):
        return str(exc)[:500]
    if "Timeout" in type(exc).__name__:
        return f"system {system_key} took longer than the job timeout"
    return f"internal error while exporting system {system_key} ({type(exc).__name__})"


def run_export_task(session: orm.Session, task_id: int, *, final_attempt: bool) -> str:
    """The body of the export job; returns what happened (for logs and tests)."""
    app = current_app._get_current_object()
    task = session.get(SystemTask, task_id)
    if task is None or task.action is not TaskAction.EXPORT:
        return "gone"
    system = get_systems(app).get(task.system_key)
    if system is None:
        session.execute(sa.update(SystemTask).where(SystemTask.id == task_id, SystemTask.state == TaskState.PENDING)
                        .values(state=TaskState.FAILED, last_error="this system is no longer declared"))
        session.commit()
        return "failed"
    request = session.get(SubjectRequest, task.request_id)
    if request.status is not RequestStatus.IN_PROGRESS:
        # Withdrawn (or otherwise closed) while queued: nothing more is collected about the subject.
        skipped = session.execute(
            sa.update(SystemTask).where(SystemTask.id == task_id, SystemTask.state == TaskState.PENDING)
            .values(state=TaskState.SKIPPED, last_error="the case is no longer in progress")).rowcount
        session.commit()
        return "skipped" if skipped else "not-claimed"
    attempt = _claim(session, task_id)
    if attempt is None:
        return "not-claimed"
    session.refresh(task)
    if getattr(system.connector, "needs_person", False):
        return _hand_to_staff(session, task, system, request)

    heartbeat = Heartbeat(session, task_id, attempt)
    spool = ref = None
    try:
        ref = subject_ref(task, system, request)
        directory = storage.task_spool(request.id, task_id, attempt, app)
        spool = SpoolWriter(directory, storage.sealing_key(app), portable_only=request.right is Right.PORTABILITY)
        batches = getattr(system.connector, "export_batches", None)
        if batches is not None:
            with read_ahead(batches(ref)) as fetched:
                for collection, columns, origins, rows in fetched:
                    spool.add_rows(collection, columns, origins, rows)
                    heartbeat.maybe(spool.records)
        else:
            for item in system.connector.export(ref):
                spool.add(item)
                heartbeat.maybe(spool.records)
        collections = spool.close()
    except LeaseLost:
        if spool is not None:
            spool.abort()
        session.rollback()
        return "superseded"
    except Exception as exc:  # noqa: BLE001 (any failure must release the task and be recorded)
        if spool is not None:
            spool.abort()
        session.rollback()
        final = final_attempt or (isinstance(exc, ConnectorError) and not exc.retryable)
        message = _staff_message(exc, task.system_key)
        # A located subject is kept for the next attempt (it then skips the lookup).
        kept = {"result": {**(task.result or {}), "ref": ref.to_json()}} if ref is not None else {}
        session.execute(sa.update(SystemTask).where(SystemTask.id == task_id, SystemTask.attempts == attempt)
                        .values(state=TaskState.FAILED if final else TaskState.PENDING, last_error=message,
                                lease_until=None, **kept))
        record(session, "export.system_failed" if final else "export.system_retrying", actor_type="system",
               request_id=request.id, system=task.system_key, attempt=attempt)
        session.commit()
        log.warning("export task %s attempt %s: %s", task_id, attempt, type(exc).__name__)
        if final:
            return "failed"
        raise RetryLater(message) from None
    finally:
        system.connector.close()

    _lock_request(session, request.id)
    finished = session.execute(
        sa.update(SystemTask)
        .where(SystemTask.id == task_id, SystemTask.attempts == attempt, SystemTask.state == TaskState.RUNNING)
        .values(state=TaskState.DONE, records=spool.records, finished_at=utcnow(), lease_until=None, last_error=None,
                result={"ref": ref.to_json(), "found": ref.found, "attempt": attempt, "spool": directory.name,
                        "collections": collections})
    ).rowcount
    if not finished:
        session.rollback()
        spool.abort()
        return "superseded"
    record(session, "export.system_done", actor_type="system", request_id=request.id, system=task.system_key,
           records=spool.records)
    if all_finished(session, request.id):
        _assemble_here(session, request)
    return "done"


def _assemble_here(session: orm.Session, request: SubjectRequest) -> None:
    """The last system is done: assemble in this job rather than publish a job that would (one hop,
    a few commits less). The bundle row is created leased in the same commit as the task's end, so a
    worker dying from here on leaves a lapsed lease the sweeper hands to the assembly job; a failure
    hands it to that job (with its retries) at once."""
    from dsr.export import assembly  # assembly builds on this module

    bundle = assembly.claim_new_bundle(session, request, _lease(current_app))
    session.commit()
    if bundle is None:  # staff's partial bundle, or another job's: the assembly job sorts it out
        defer(session, ASSEMBLE_JOB, request.id, request_id=request.id)
        return
    try:
        assembly.build_bundle(session, request, bundle, export_tasks(session, request.id), final_attempt=False)
    except Exception as exc:  # noqa: BLE001 (the export is done and stays done: only the assembly is retried)
        log.warning("assembly of request %s after its last export failed (%s); the assembly job retries it",
                    request.id, type(exc).__name__)
        defer(session, ASSEMBLE_JOB, request.id, request_id=request.id)


def _hand_to_staff(session: orm.Session, task: SystemTask, system, request: SubjectRequest) -> str:
    timezone = ZoneInfo(current_app.extensions["dsr.controller"].timezone)
    task.state = TaskState.WAITING_FOR_STAFF
    task.lease_until = None
    task.due_on = utcnow().astimezone(timezone).date() + timedelta(days=system.connector.due_days)
    if request.deadline_on is not None:
        task.due_on = min(task.due_on, request.deadline_on)  # never after the case's own legal deadline
    record(session, "export.waiting_for_staff", actor_type="system", request_id=request.id, system=task.system_key,
           due_on=task.due_on.isoformat())
    return "waiting-for-staff"


def _lock_request(session: orm.Session, request_id: int) -> None:
    """Serialise the tasks of one case finishing at once, so exactly one of them sees all done."""
    session.execute(sa.select(SubjectRequest.id).where(SubjectRequest.id == request_id).with_for_update())


def export_tasks(session: orm.Session, request_id: int) -> list[SystemTask]:
    order = {key: index for index, key in enumerate(get_systems(current_app))}
    # populate_existing: tasks this session already holds are refreshed (their end was an UPDATE statement).
    tasks = session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request_id,
                                                        SystemTask.action == TaskAction.EXPORT)
                            .execution_options(populate_existing=True)).all()
    return sorted(tasks, key=lambda t: (order.get(t.system_key, len(order)), t.system_key))


def all_finished(session: orm.Session, request_id: int) -> bool:
    states = session.scalars(sa.select(SystemTask.state).where(SystemTask.request_id == request_id,
                                                               SystemTask.action == TaskAction.EXPORT)).all()
    return bool(states) and all(state in FINISHED for state in states)


def defer_assembly_if_complete(session: orm.Session, request_id: int) -> bool:
    if all_finished(session, request_id):
        defer(session, ASSEMBLE_JOB, request_id, request_id=request_id)
        return True
    return False


def _open_jobs(session: orm.Session, job_name: str) -> set[tuple]:
    rows = session.execute(sa.select(OutboxJob.args).where(
        OutboxJob.job_name == job_name, OutboxJob.completed_at.is_(None), OutboxJob.failed_at.is_(None)))
    return {tuple(args) for (args,) in rows}


def sweep_export_work(session: orm.Session) -> dict[str, int]:
    """Safety net: tasks of dead workers (lease lapsed: a new job at once, whatever RQ still believes),
    pending tasks whose job is gone, finished cases without an assembly, assemblies of dead workers."""
    now = utcnow()
    counts = {"released": 0, "redeferred": 0, "assemblies": 0}
    open_exports = _open_jobs(session, EXPORT_JOB)
    grace = now - _lease(current_app)
    for task in session.scalars(sa.select(SystemTask).where(
            SystemTask.action == TaskAction.EXPORT,
            sa.or_(sa.and_(SystemTask.state == TaskState.RUNNING, SystemTask.lease_until < now),
                   sa.and_(SystemTask.state == TaskState.PENDING, SystemTask.created_at < grace)))).all():
        if task.state is TaskState.RUNNING:
            task.state, task.lease_until = TaskState.PENDING, None
            counts["released"] += 1
        elif (task.id,) in open_exports:
            continue
        defer(session, EXPORT_JOB, task.id, request_id=task.request_id)
        counts["redeferred"] += 1
    open_assemblies = _open_jobs(session, ASSEMBLE_JOB)
    waiting = session.scalars(sa.select(SubjectRequest.id).where(
        SubjectRequest.status == RequestStatus.IN_PROGRESS,
        SubjectRequest.right.in_([Right.ACCESS, Right.PORTABILITY]))).all()
    for request_id in waiting:
        bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request_id))
        if bundle is None:
            if (request_id,) not in open_assemblies and defer_assembly_if_complete(session, request_id):
                counts["assemblies"] += 1
        elif bundle.status is BundleStatus.ASSEMBLING:
            lapsed = bundle.lease_until is not None and bundle.lease_until < now
            if lapsed or (bundle.lease_until is None and (request_id,) not in open_assemblies):
                bundle.lease_until = None
                defer(session, ASSEMBLE_JOB, request_id, request_id=request_id)
                counts["assemblies"] += 1
    session.flush()
    return counts
