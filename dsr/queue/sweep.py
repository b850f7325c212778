"""The safety nets every worker runs on a timer: publish what the relay left, re-publish what Redis
lost, record failures no job could record, retry the jobs of dead workers within seconds, and
start the periodic jobs."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from flask import Flask
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import orm

from dsr.db import get_db, utcnow
from dsr.models import OutboxJob
from dsr.queue.broker import get_redis
from dsr.queue.outbox import FAILED_TTL_SECONDS, Relay, get_queue
from dsr.queue.registry import ALL_QUEUES, parse_rq_job_id, periodic_jobs, queue_name, rq_job_id
from dsr.queue.retries import record_failure

log = logging.getLogger(__name__)


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
            status = _rq_status(connection, rq_job_id(row.job_name, row.id, row.publish_count))
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
