"""The export task of one (case, system): started at approval, run by the `export_system` job through
the task pipeline (dsr.tasks.pipeline), which claims, leases, retries and ends it. This module is the
export's own part: locate the subject, stream their records into a sealed spool, and, when the last
system is done, assemble the bundle in the same job."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.bundle.spool import SpoolWriter
from dsr.connectors.registry import get_systems
from dsr.export import storage
from dsr.export.assembly import assemble_after_last_export, make_room_for_retry
from dsr.export.readahead import read_ahead
from dsr.models import Right, SubjectLocation, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.queue import QUEUE_CONNECTORS, defer, is_final_attempt, job
from dsr.tasks.pipeline import Attempt, Outcome, TaskRun, all_finished, run_task, subject_ref, tasks_of
from dsr.tasks.registry import register_kind, starter

log = logging.getLogger(__name__)


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
        defer(session, export_system, task.id, request_id=request.id)
    record(session, "export.started", actor_type="system", request_id=request.id, kind=request.right.value)


def located_refs(session: orm.Session, request_id: int) -> dict[str, dict]:
    """The intake lookup's refs (SubjectRef.to_json()) of the systems where it found the subject."""
    rows = session.scalars(sa.select(SubjectLocation).where(
        SubjectLocation.request_id == request_id, SubjectLocation.found.is_(True), SubjectLocation.error.is_(None)))
    return {row.system_key: row.ref for row in rows if row.ref}


class ExportWork:
    """One attempt at one system: its records into a spool of sealed files, one per collection."""

    def __init__(self, attempt: Attempt, on_complete):
        self.attempt, self.on_complete = attempt, on_complete
        self.spool: SpoolWriter | None = None

    def run(self) -> Outcome:
        attempt = self.attempt
        app = current_app._get_current_object()
        ref = subject_ref(attempt.task, attempt.system, attempt.request)
        attempt.keep["ref"] = ref.to_json()
        prefix = storage.task_spool(attempt.request.id, attempt.task.id, attempt.number)
        connector = attempt.system.connector
        rules = connector.collection_rules()
        self.spool = spool = SpoolWriter(storage.get_store(app), prefix, storage.sealing_key(app),
                                         portable_only=attempt.request.right is Right.PORTABILITY, rules=rules)
        batches = getattr(connector, "export_batches", None)
        if batches is not None:
            with read_ahead(batches(ref)) as fetched:
                for collection, columns, origins, rows in fetched:
                    spool.add_rows(collection, columns, origins, rows)
                    attempt.progress(spool.records)
        else:
            for item in connector.export(ref):
                spool.add(item)
                attempt.progress(spool.records)
        collections = spool.close()
        for name, summary in collections.items():  # how staff name its rows, and a delta compares them
            summary["key"] = rules[name].key_field if name in rules else None
        return Outcome(result={"ref": ref.to_json(), "found": ref.found, "spool": prefix.rsplit("/", 1)[1],
                               "collections": collections},
                       records=spool.records, audit={"records": spool.records})

    def abort(self) -> None:
        if self.spool is not None:
            self.spool.abort()

    def after_finish(self, session: orm.Session) -> None:
        if all_finished(session, self.attempt.request.id, TaskAction.EXPORT):
            self.on_complete(session, self.attempt.request)


def export_tasks(session: orm.Session, request_id: int) -> list[SystemTask]:
    return tasks_of(session, request_id, TaskAction.EXPORT)


def run_export_task(session: orm.Session, task_id: int, *, final_attempt: bool) -> TaskRun:
    """The body of the export job; returns what happened (for logs and tests)."""
    return run_task(session, task_id, action=TaskAction.EXPORT, audit_prefix="export", doing="exporting",
                    work=lambda attempt: ExportWork(attempt, assemble_after_last_export),
                    final_attempt=final_attempt)


@job(QUEUE_CONNECTORS)
def export_system(session: orm.Session, task_id: int) -> str:
    """The export job of one system task."""
    return run_export_task(session, task_id, final_attempt=is_final_attempt())


register_kind(TaskAction.EXPORT, export_system, before_retry=make_room_for_retry)
