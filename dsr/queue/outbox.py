"""The only enqueue API: `defer()` writes an outbox row in the caller's transaction.

After the commit the relay publishes the row to RQ with a deterministic job id; the
worker's sweep publishes whatever is left (Redis was down, the web process died between
commit and publish) and re-publishes work that Redis lost. Publishing twice is harmless:
RQ refuses a second job with the same id, and every job is idempotent.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

import redis
import sqlalchemy as sa
from flask import Flask
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer
from sqlalchemy import event, orm

from dsr.db import get_db, utcnow
from dsr.models import OutboxJob
from dsr.queue.broker import get_redis, redis_may_be_up, remember_redis_down
from dsr.queue.registry import JobSpec, job_spec, queue_name, rq_job_id

log = logging.getLogger(__name__)

_PENDING = "dsr_outbox_pending"
_ID_ARG = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
FAILED_TTL_SECONDS = 7 * 24 * 3600  # RQ keeps tracebacks a year by default: too long for anything near PII
RESULT_TTL_SECONDS = 3600


def get_queue(app: Flask, short: str, connection: redis.Redis | None = None) -> Queue:
    return Queue(queue_name(app, short), connection=connection or get_redis(app), serializer=JSONSerializer)


def defer(session: orm.Session, job: Callable, *args: int | str, run_at: datetime | None = None,
          request_id: int | None = None) -> OutboxJob:
    """Record the intent to run `job(*args)` (a `@job` function) once the caller's transaction commits."""
    spec: JobSpec | None = getattr(job, "spec", None)
    if spec is None:
        raise ValueError(f"{job!r} is not a @job function")
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, int | str) or (isinstance(arg, str) and not _ID_ARG.match(arg)):
            raise ValueError(f"job {spec.name}: arguments must be ids (int or short key), got {arg!r}")
    row = OutboxJob(job_name=spec.name, args=list(args), queue=spec.queue, run_at=run_at, request_id=request_id)
    session.add(row)
    session.info.setdefault(_PENDING, []).append(row)
    return row


def install_relay(app: Flask) -> None:
    """Publish a transaction's outbox rows right after it commits (in the same thread)."""
    maker = get_db(app).sessionmaker

    @event.listens_for(maker, "after_commit")
    def _after_commit(session: orm.Session) -> None:
        if session.in_nested_transaction():
            return  # SQLAlchemy reports a released savepoint too: the real commit is still to come
        # Rows deferred inside a savepoint that rolled back are transient again: they never existed.
        rows = [row for row in session.info.pop(_PENDING, [])
                if sa.inspect(row).has_identity and row.run_at is None]
        if rows and app.config["OUTBOX_RELAY_INLINE"]:
            # Not marked published here: that would be a second transaction (and a disk flush) on the
            # page the subject waits for. The next sweep finds the rows, RQ refuses them as duplicates,
            # and the sweep marks them; a job that finished first is no longer looked at.
            Relay(app).publish(rows, mark=False)

    @event.listens_for(maker, "after_rollback")
    def _after_rollback(session: orm.Session) -> None:
        if not session.in_nested_transaction():
            session.info.pop(_PENDING, None)


class Relay:
    """Moves outbox rows to RQ. Never raises for a Redis outage: the row waits for the sweep."""

    def __init__(self, app: Flask, connection: redis.Redis | None = None):
        self.app = app
        self.connection = connection or get_redis(app)

    def publish(self, rows: list[OutboxJob], *, mark: bool = True) -> list[int]:
        """Enqueue the rows; with `mark`, record them as published (the sweep's lease check counts from then)."""
        if not redis_may_be_up(self.app):
            return []
        published: list[int] = []
        for row in rows:
            try:
                self._enqueue(row)
            except DuplicateJobError:  # already published by another relay or sweep: nothing to do
                pass
            except (redis.RedisError, OSError) as exc:
                remember_redis_down(self.app)
                log.warning("outbox %s not published yet (%s); the sweep will retry", row.id, type(exc).__name__)
                break
            published.append(row.id)
        if published and mark:
            self._mark_published(published)
        return published

    def _enqueue(self, row: OutboxJob) -> None:
        spec = job_spec(row.job_name)
        queue = get_queue(self.app, row.queue, self.connection)
        queue.enqueue(
            spec.path, args=list(row.args), job_id=rq_job_id(row.job_name, row.id, row.publish_count), unique=True,
            meta={"outbox_id": row.id, "attempt": row.attempts}, description=f"{row.job_name}{tuple(row.args)}",
            job_timeout=spec.timeout or self.app.config["JOB_TIMEOUT"],
            result_ttl=RESULT_TTL_SECONDS, failure_ttl=FAILED_TTL_SECONDS,
        )

    def _mark_published(self, ids: list[int]) -> None:
        with get_db(self.app).session() as session:
            session.execute(
                sa.update(OutboxJob).where(OutboxJob.id.in_(ids), OutboxJob.published_at.is_(None))
                .values(published_at=utcnow())
            )
            session.commit()
