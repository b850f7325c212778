"""Retries live in the database, not in RQ: a failed attempt with retries left moves its outbox row's
`run_at` by the next backoff interval and bumps `publish_count` (a new job id); the sweep of any
worker publishes it when due. So no RQ scheduler process is needed, a retry survives the loss of
Redis, and a dead worker's scheduled retries run on the others. Failures the job itself could not
record (its worker died, the database was away at that moment) are found by the sweep and handled
the same way, exactly once per attempt.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import orm

from dsr.db import utcnow
from dsr.models import OutboxJob
from dsr.queue.registry import job_spec


def retry_intervals(app: Flask, job_name: str) -> list[float]:
    """Seconds to wait before each retry of `job_name` (its length is the number of retries)."""
    intervals = [float(i) for i in app.config["JOB_RETRY_INTERVALS"]]
    retries = job_spec(job_name).retries
    if retries is None:
        return intervals
    # More retries than intervals: the last interval repeats (as RQ's Retry did).
    return [intervals[min(i, len(intervals) - 1)] if intervals else 0.0 for i in range(retries)]


def is_last_attempt(app: Flask, job_name: str, attempt: int) -> bool:
    """`attempt` counts the failures before this run (0 for the first run)."""
    return attempt >= len(retry_intervals(app, job_name))


def record_failure(app: Flask, session: orm.Session, outbox_id: int, publish_count: int, error: str,
                   now: datetime | None = None) -> OutboxJob | None:
    """A publication of an outbox row failed: schedule the next attempt after its backoff interval,
    or mark the row failed when no retry is left. A compare-and-set on `publish_count` makes this
    happen once per attempt whoever notices the failure (the job itself, the reaper, the sweep).
    Commits. Returns the row when its retry is due at once (the caller may publish it now)."""
    now = now or utcnow()
    row = session.scalar(sa.select(OutboxJob).where(
        OutboxJob.id == outbox_id, OutboxJob.publish_count == publish_count,
        OutboxJob.completed_at.is_(None), OutboxJob.failed_at.is_(None)))
    if row is None:
        session.commit()
        return None  # already handled, completed, or re-published since
    intervals = retry_intervals(app, row.job_name)
    values: dict = {"attempts": OutboxJob.attempts + 1, "last_error": error[:300]}
    if row.attempts < len(intervals):
        run_at = now + timedelta(seconds=intervals[row.attempts])
        values.update(publish_count=OutboxJob.publish_count + 1, published_at=None, run_at=run_at)
    else:
        run_at = None
        values.update(failed_at=now)
    changed = session.execute(sa.update(OutboxJob).where(
        OutboxJob.id == outbox_id, OutboxJob.publish_count == publish_count,
        OutboxJob.completed_at.is_(None), OutboxJob.failed_at.is_(None)).values(**values)).rowcount
    session.commit()
    if not changed or run_at is None:
        return None
    session.refresh(row)
    return row if run_at <= utcnow() else None
