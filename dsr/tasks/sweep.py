"""The safety net of the task pipeline, run by each kind's periodic sweep job: a task whose lease
lapsed belonged to a dead worker and gets a new job at once (whatever RQ still believes); a pending
task whose job vanished gets it again."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.db import utcnow
from dsr.models import OutboxJob, SystemTask, TaskAction, TaskState
from dsr.queue import defer
from dsr.tasks.pipeline import lease_seconds
from dsr.tasks.states import TASK_STATES, TaskEvent


def open_jobs(session: orm.Session, job: Callable) -> set[tuple]:
    """The argument tuples of `job`'s outbox rows that have neither completed nor failed."""
    rows = session.execute(sa.select(OutboxJob.args).where(
        OutboxJob.job_name == job.spec.name, OutboxJob.completed_at.is_(None), OutboxJob.failed_at.is_(None)))
    return {tuple(args) for (args,) in rows}


def sweep_tasks(session: orm.Session, action: TaskAction, job: Callable) -> dict[str, int]:
    now = utcnow()
    counts = {"released": 0, "redeferred": 0}
    waiting_jobs = open_jobs(session, job)
    grace = now - timedelta(seconds=lease_seconds())
    for task in session.scalars(sa.select(SystemTask).where(
            SystemTask.action == action,
            sa.or_(sa.and_(SystemTask.state == TaskState.RUNNING, SystemTask.lease_until < now),
                   sa.and_(SystemTask.state == TaskState.PENDING, SystemTask.created_at < grace)))).all():
        if task.state is TaskState.RUNNING:
            if not TASK_STATES.move(session, task.id, TaskEvent.RELEASE, where=(SystemTask.lease_until < now,),
                                    lease_until=None):
                continue  # renewed meanwhile: its worker is alive after all
            counts["released"] += 1
        elif (task.id,) in waiting_jobs:
            continue
        defer(session, job, task.id, request_id=task.request_id)
        counts["redeferred"] += 1
    session.flush()
    return counts
