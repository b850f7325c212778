"""The only enqueue API: `defer()` writes an outbox row in the caller's transaction.

After the commit the relay publishes the row to RQ with a deterministic job id; the
worker's sweep publishes whatever is left (Redis was down, the web process died between
commit and publish) and re-publishes work that Redis lost. Publishing twice is harmless:
RQ refuses a second job with the same id, and every job is idempotent.

Retries live here too, not in RQ: a failed attempt with retries left moves its row's `run_at`
by the next backoff interval and bumps `publish_count` (a new job id), in the database; the
sweep of any worker publishes it when due. So no RQ scheduler process is needed, a retry
survives the loss of Redis, and a dead worker's scheduled retries run on the others. Failures
the job itself could not record (its worker died, the database was away at that moment) are
found in RQ's registries by the sweep and handled the same way, exactly once per attempt.
"""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from flask import Flask
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import event, orm

from dsr.broker import get_redis, redis_may_be_up, remember_redis_down
from dsr.db import get_db, utcnow
from dsr.models import OutboxJob

log = logging.getLogger(__name__)

QUEUE_DEFAULT = "default"
QUEUE_NOTIFY = "notify"
QUEUE_CONNECTORS = "connectors"
ALL_QUEUES = (QUEUE_NOTIFY, QUEUE_DEFAULT, QUEUE_CONNECTORS)  # order = dequeue priority

_PENDING = "dsr_outbox_pending"
_ID_ARG = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
FAILED_TTL_SECONDS = 7 * 24 * 3600  # RQ keeps tracebacks a year by default: too long for anything near PII
RESULT_TTL_SECONDS = 3600


def queue_name(app: Flask, short: str) -> str:
    return f"{app.config['QUEUE_PREFIX']}-{short}"


def get_queue(app: Flask, short: str, connection: redis.Redis | None = None) -> Queue:
    return Queue(queue_name(app, short), connection=connection or get_redis(app), serializer=JSONSerializer)


def defer(session: orm.Session, job_name: str, *args: int | str, run_at: datetime | None = None,
          request_id: int | None = None) -> OutboxJob:
    """Record the intent to run `job_name(*args)` once the caller's transaction commits."""
    from workers.registry import job_spec  # the registry imports services; import late to avoid cycles

    spec = job_spec(job_name)
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, int | str) or (isinstance(arg, str) and not _ID_ARG.match(arg)):
            raise ValueError(f"job {job_name}: arguments must be ids (int or short key), got {arg!r}")
    row = OutboxJob(job_name=job_name, args=list(args), queue=spec.queue, run_at=run_at, request_id=request_id)
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
            Relay(app).publish(rows)

    @event.listens_for(maker, "after_rollback")
    def _after_rollback(session: orm.Session) -> None:
        if not session.in_nested_transaction():
            session.info.pop(_PENDING, None)


class Relay:
    """Moves outbox rows to RQ. Never raises for a Redis outage: the row waits for the sweep."""

    def __init__(self, app: Flask, connection: redis.Redis | None = None):
        self.app = app
        self.connection = connection or get_redis(app)

    def publish(self, rows: list[OutboxJob]) -> list[int]:
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
        if published:
            self._mark_published(published)
        return published

    def _enqueue(self, row: OutboxJob) -> None:
        from workers.registry import job_spec

        spec = job_spec(row.job_name)
        queue = get_queue(self.app, row.queue, self.connection)
        queue.enqueue(
            spec.path, args=list(row.args), job_id=rq_job_id(row), unique=True,
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


def rq_job_id(row: OutboxJob) -> str:
    """Deterministic per publication: a retry, or re-publishing after a loss, bumps publish_count."""
    return f"{row.job_name}-{row.id}-{row.publish_count}"


_RQ_JOB_ID = re.compile(r"^[a-z_0-9]+-(\d+)-(\d+)$")


def parse_rq_job_id(job_id: str) -> tuple[int, int] | None:
    """(outbox id, publish count) of a job id made by rq_job_id; None for other jobs (periodic ones)."""
    match = _RQ_JOB_ID.match(job_id)
    return (int(match[1]), int(match[2])) if match else None


def retry_intervals(app: Flask, job_name: str) -> list[float]:
    """Seconds to wait before each retry of `job_name` (its length is the number of retries)."""
    from workers.registry import job_spec

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


def sweep_outbox(app: Flask, connection: redis.Redis | None = None, batch: int = 500) -> dict[str, int]:
    """Publish due rows; re-publish rows whose RQ job vanished; mark rows whose job failed for good."""
    connection = connection or get_redis(app)
    now = utcnow()
    counts = {"published": 0, "republished": 0, "failed": 0}
    db = get_db(app)
    with db.session() as session:
        due = session.scalars(
            sa.select(OutboxJob)
            .where(OutboxJob.published_at.is_(None), OutboxJob.completed_at.is_(None), OutboxJob.failed_at.is_(None),
                   sa.or_(OutboxJob.run_at.is_(None), OutboxJob.run_at <= now))
            .order_by(OutboxJob.id).limit(batch)
        ).all()
        session.commit()  # end the read transaction before talking to Redis (rows stay loaded)
    counts["published"] = len(Relay(app, connection).publish(list(due)))

    lease_cutoff = now - timedelta(seconds=app.config["JOB_LEASE_SECONDS"])
    with db.session() as session:
        stale = session.scalars(
            sa.select(OutboxJob)
            .where(OutboxJob.published_at.is_not(None), OutboxJob.published_at < lease_cutoff,
                   OutboxJob.completed_at.is_(None), OutboxJob.failed_at.is_(None))
            .order_by(OutboxJob.id).limit(batch)
        ).all()
        failed: list[tuple[int, int]] = []
        for row in stale:
            status = _rq_status(connection, rq_job_id(row))
            if status is None:
                # Redis lost it (restart without persistence, eviction): publish again under a new id.
                row.publish_count += 1
                row.published_at = None
                counts["republished"] += 1
            elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                failed.append((row.id, row.publish_count))
        session.commit()
        republish = [row for row in stale if row.published_at is None]
        failed += unrecorded_failures(app, connection, session, now)
        for outbox_id, publish_count in dict.fromkeys(failed):
            due = record_failure(app, session, outbox_id, publish_count, "the job failed outside its own handler "
                                 "(worker died, or the database was unavailable)", now)
            counts["failed"] += 1
            if due is not None:
                republish.append(due)
    if republish:
        Relay(app, connection).publish(republish)
    return counts


def unrecorded_failures(app: Flask, connection: redis.Redis, session: orm.Session,
                        now: datetime) -> list[tuple[int, int]]:
    """(outbox id, publish count) of jobs RQ failed in the last JOB_LEASE_SECONDS whose outbox row still
    waits for them (the job could not record its failure); older ones the lease check above finds."""
    window = float(app.config["JOB_LEASE_SECONDS"])
    oldest = now.timestamp() + FAILED_TTL_SECONDS - window  # RQ scores a failed job by its expiry
    found: dict[int, int] = {}
    for short in ALL_QUEUES:
        registry = FailedJobRegistry(queue_name(app, short), connection=connection, serializer=JSONSerializer)
        for job_id in connection.zrangebyscore(registry.key, oldest, "+inf"):
            parsed = parse_rq_job_id(job_id.decode())
            if parsed:
                found[parsed[0]] = max(parsed[1], found.get(parsed[0], -1))
    if not found:
        return []
    waiting = session.execute(sa.select(OutboxJob.id, OutboxJob.publish_count).where(
        OutboxJob.id.in_(list(found)), OutboxJob.published_at.is_not(None), OutboxJob.completed_at.is_(None),
        OutboxJob.failed_at.is_(None))).all()
    session.commit()
    return [(outbox_id, count) for outbox_id, count in waiting if found[outbox_id] == count]


def _rq_status(connection: redis.Redis, job_id: str) -> JobStatus | None:
    try:
        return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).get_status(refresh=False)
    except NoSuchJobError:
        return None


def beacon_key(app: Flask, worker_name: str) -> str:
    return f"{app.config['QUEUE_PREFIX']}:alive:{worker_name}"


def beat(app: Flask, connection: redis.Redis, worker_name: str) -> None:
    """A worker's liveness beacon: refreshed every few seconds, gone soon after the worker dies."""
    connection.set(beacon_key(app, worker_name), "1", ex=max(1, int(app.config["WORKER_BEACON_TTL"])))


def reap_abandoned_jobs(app: Flask, connection: redis.Redis) -> int:
    """Retry (or fail, when no retries are left) jobs whose worker died, within seconds.

    RQ notices a SIGKILLed SimpleWorker only when the job's heartbeat expires: job_timeout + 60 s,
    eleven minutes by default. Our workers beat a short-lived beacon instead; a started job whose
    worker's beacon is gone counts as a failed attempt of its outbox row (retried after its backoff,
    or failed), and is expired in RQ's registry so RQ's own cleanup moves it to the failed jobs.
    """
    orphaned = 0
    lost: list[tuple[int, int]] = []
    for short in ALL_QUEUES:
        registry = StartedJobRegistry(queue_name(app, short), connection=connection, serializer=JSONSerializer)
        entries = registry.get_job_and_execution_ids(cleanup=False)
        jobs = Job.fetch_many([job_id for job_id, _ in entries], connection=connection, serializer=JSONSerializer)
        for (job_id, execution_id), job in zip(entries, jobs):
            if job is None or not job.worker_name or connection.exists(beacon_key(app, job.worker_name)):
                continue
            parsed = parse_rq_job_id(job_id)
            if parsed:
                lost.append(parsed)
            composite = f"{job_id}:{execution_id}" if execution_id else job_id
            connection.zadd(registry.key, {composite: 0}, xx=True)
            orphaned += 1
            log.warning("job %s lost its worker; its outbox row gets a retry", job_id)
    if lost:
        due = []
        with get_db(app).session() as session:
            for outbox_id, publish_count in lost:
                row = record_failure(app, session, outbox_id, publish_count, "the worker running this job died")
                if row is not None:
                    due.append(row)
        if due:
            Relay(app, connection).publish(due)
    for short in ALL_QUEUES:  # after the outbox knows: RQ's cleanup then only moves them to the failed jobs
        StartedJobRegistry(queue_name(app, short), connection=connection, serializer=JSONSerializer).cleanup()
    return orphaned


def enqueue_periodic(app: Flask, connection: redis.Redis, now: float | None = None) -> int:
    """Enqueue each periodic job (`@job(..., every=s)`) once per slot; every worker tries, the
    deterministic job id lets exactly one win."""
    from workers.registry import periodic_jobs

    now = time.time() if now is None else now
    started = 0
    for spec in periodic_jobs():
        slot = int(now // spec.every)
        try:
            get_queue(app, spec.queue, connection).enqueue(
                spec.path, job_id=f"periodic-{spec.name}-{slot}", unique=True,
                job_timeout=spec.timeout or app.config["JOB_TIMEOUT"],
                result_ttl=max(int(spec.every) * 2, 60), failure_ttl=FAILED_TTL_SECONDS,
            )
            started += 1
        except DuplicateJobError:
            pass
    return started

