"""The export's safety net, every 10 s on some worker: the task pipeline's sweep for export tasks
(dead workers' tasks, vanished jobs), then finished cases without an assembly and assemblies of dead
workers."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.db import utcnow
from dsr.export.assembly import assemble_bundle
from dsr.export.parts import open_bundle, owed_tasks
from dsr.export.tasks import export_system
from dsr.models import BundleStatus, RequestStatus, Right, SubjectRequest, TaskAction
from dsr.queue import QUEUE_DEFAULT, defer, job
from dsr.tasks.pipeline import all_finished
from dsr.tasks.sweep import open_jobs, sweep_tasks


def sweep_export(session: orm.Session) -> dict[str, int]:
    counts = {**sweep_tasks(session, TaskAction.EXPORT, export_system), "assemblies": 0}
    now = utcnow()
    waiting_assemblies = open_jobs(session, assemble_bundle)
    waiting = session.scalars(sa.select(SubjectRequest.id).where(
        SubjectRequest.status == RequestStatus.IN_PROGRESS,
        SubjectRequest.right.in_([Right.ACCESS, Right.PORTABILITY]))).all()
    for request_id in waiting:
        bundle = open_bundle(session, request_id)
        if bundle is None:
            wanted = (request_id,) not in waiting_assemblies and _owed_finished(session, request_id)
        elif bundle.status is BundleStatus.ASSEMBLING:
            lapsed = bundle.lease_until is not None and bundle.lease_until < now
            wanted = lapsed or (bundle.lease_until is None and (request_id,) not in waiting_assemblies)
            if wanted:
                bundle.lease_until = None
        else:
            wanted = False
        if wanted:
            defer(session, assemble_bundle, request_id, request_id=request_id)
            counts["assemblies"] += 1
    session.flush()
    return counts


def _owed_finished(session: orm.Session, request_id: int) -> bool:
    """Every system still owed is done (a released partial part's failed systems retried, or none released)."""
    if not all_finished(session, request_id, TaskAction.EXPORT):
        return False
    return bool(owed_tasks(session, request_id))


@job(QUEUE_DEFAULT, every=10)
def sweep_export_work(session: orm.Session) -> dict:
    return sweep_export(session)
