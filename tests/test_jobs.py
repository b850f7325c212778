"""The transactional outbox: intents commit with their cause, publish after commit, survive Redis outages."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from dsr import create_app
from dsr.db import get_db, utcnow
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection, OutboxJob
from dsr.notify.service import deliver_message
from dsr.queue import jobs as job_runtime
from dsr.queue.broker import EmbeddedRedis, get_redis
from dsr.queue.outbox import Relay, defer, get_queue
from dsr.queue.registry import ALL_QUEUES, queue_name
from dsr.queue.sweep import sweep_outbox
from tests.helpers.jobs import run_jobs


def _message(session, to="subject@example.org", **overrides) -> Message:
    values = dict(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL, to_address=to,
                  subject_line="Your request", body_text="Hello", template="test")
    values.update(overrides)
    message = Message(**values)
    session.add(message)
    session.flush()
    return message


def test_a_deferred_job_is_published_right_after_commit_with_a_deterministic_id(app, session):
    message = _message(session)
    row = defer(session, deliver_message, message.id)
    assert get_redis(app).keys("rq:job:*") == []  # nothing leaves before the commit
    session.commit()
    job = Job.fetch(f"deliver_message-{row.id}-0", connection=get_redis(app), serializer=JSONSerializer)
    assert job.args == [message.id]  # ids only, JSON on the wire
    assert job.func_name == "dsr.notify.service.deliver_message"
    # The sweep records the publication (RQ refuses the duplicate): the lease check counts from then.
    session.expire_all()
    assert session.get(OutboxJob, row.id).published_at is None
    sweep_outbox(app)
    session.expire_all()
    assert session.get(OutboxJob, row.id).published_at is not None
    assert len(get_queue(app, deliver_message.spec.queue).job_ids) == 1  # published once


def test_a_rolled_back_transaction_publishes_nothing(app, session):
    message = _message(session)
    defer(session, deliver_message, message.id)
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxJob)) == 0
    assert get_redis(app).keys("rq:job:*") == []


def test_job_arguments_must_be_ids(session):
    with pytest.raises(ValueError, match="ids"):
        defer(session, deliver_message, "someone@example.org")
    with pytest.raises(ValueError, match="not a @job function"):
        defer(session, _message, 1)


def test_a_real_worker_runs_the_job_and_the_outbox_row_completes(app, session):
    message = _message(session)
    row = defer(session, deliver_message, message.id)
    session.commit()
    run_jobs(app)
    session.expire_all()
    assert session.get(Message, message.id).status is DeliveryStatus.SENT
    assert session.get(OutboxJob, row.id).completed_at is not None
    mails = list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert len(mails) == 1 and b"Hello" in mails[0].read_bytes()


def test_publishing_twice_runs_the_job_once(app, session):
    message = _message(session)
    row = defer(session, deliver_message, message.id)
    session.commit()
    relay = Relay(app)
    assert relay.publish([row]) == [row.id]  # a second relay (e.g. the sweep) racing the first
    assert len(get_redis(app).keys("rq:job:*")) == 1


def test_a_job_requested_while_redis_is_unreachable_is_delivered_after_it_returns(app_config, tmp_path):
    private = EmbeddedRedis(tmp_path / "private-redis")
    app_config["REDIS_URL"] = private.url  # nobody listens there yet: Redis is down
    app = create_app(app_config)
    with app.app_context():
        with get_db(app).session() as session:
            message = _message(session)
            row = defer(session, deliver_message, message.id)
            session.commit()  # the change commits although Redis is unreachable
            message_id, row_id = message.id, row.id
        with get_db(app).session() as session:
            assert session.get(OutboxJob, row_id).published_at is None
        private.start()  # Redis returns
        try:
            run_jobs(app)  # the worker's sweep publishes the left-over row, then runs it
            with get_db(app).session() as session:
                assert session.get(Message, message_id).status is DeliveryStatus.SENT
                assert session.get(OutboxJob, row_id).completed_at is not None
        finally:
            get_redis(app).close()
            private.stop()
    get_db(app).dispose()


def test_a_job_lost_by_redis_is_published_again_by_the_sweep(app, session):
    message = _message(session)
    row = defer(session, deliver_message, message.id)
    session.commit()
    get_redis(app).flushdb()  # Redis restarted without persistence
    session.execute(sa.update(OutboxJob).values(published_at=sa.func.current_timestamp()))
    session.commit()
    app.config["JOB_LEASE_SECONDS"] = -1  # every published row is past its lease
    counts = sweep_outbox(app)
    assert counts["republished"] == 1
    assert Job.exists(f"deliver_message-{row.id}-1", connection=get_redis(app))
    run_jobs(app)
    session.expire_all()
    assert session.get(Message, message.id).status is DeliveryStatus.SENT


def test_delayed_work_waits_in_the_database_until_it_is_due(app, session):
    message = _message(session)
    row = defer(session, deliver_message, message.id, run_at=utcnow() + timedelta(hours=1))
    session.commit()
    assert sweep_outbox(app)["published"] == 0
    session.execute(sa.update(OutboxJob).where(OutboxJob.id == row.id).values(run_at=utcnow()))
    session.commit()
    assert sweep_outbox(app)["published"] == 1


def test_a_released_savepoint_publishes_nothing_before_the_real_commit(app, session):
    with session.begin_nested():
        message = _message(session)
        row = defer(session, deliver_message, message.id)
    assert get_redis(app).keys("rq:job:*") == []  # SQLAlchemy fires after_commit here; we must not publish
    session.commit()
    assert Job.exists(f"deliver_message-{row.id}-0", connection=get_redis(app))


def test_a_savepoint_rolled_back_drops_only_its_own_rows(app, session):
    kept = defer(session, deliver_message, _message(session).id)
    try:
        with session.begin_nested():
            defer(session, deliver_message, _message(session, to="gone@example.org").id)
            raise RuntimeError("the inner step failed")
    except RuntimeError:
        pass
    session.commit()
    assert [k.decode() for k in get_redis(app).keys("rq:job:*")] == [f"rq:job:deliver_message-{kept.id}-0"]


def test_a_failed_attempt_waits_in_the_outbox_for_its_backoff_then_runs_under_a_new_id(smtp, app_config):
    app_config["JOB_RETRY_INTERVALS"] = [3600]
    app = create_app(app_config)
    smtp.fail_next = 1  # the mail server says "try again later" once
    with app.app_context(), get_db(app).session() as session:
        message = _message(session)
        row = defer(session, deliver_message, message.id)
        session.commit()
        run_jobs(app)
        session.expire_all()
        retry = session.get(OutboxJob, row.id)
        assert (retry.attempts, retry.publish_count, retry.published_at) == (1, 1, None)
        assert retry.run_at > utcnow() + timedelta(minutes=59)  # the backoff is in the database...
        assert "451" in retry.last_error
        for queue in ALL_QUEUES:  # ...and not in Redis, where no scheduler process would move it
            assert ScheduledJobRegistry(queue_name(app, queue), connection=get_redis(app)).count == 0
        assert smtp.to("subject@example.org") == []

        session.execute(sa.update(OutboxJob).where(OutboxJob.id == row.id).values(run_at=utcnow()))
        session.commit()  # an hour later
        run_jobs(app)  # its sweep publishes the due retry; the second attempt is the last one
        session.expire_all()
        assert Job.exists(f"deliver_message-{row.id}-1", connection=get_redis(app))
        assert session.get(Message, message.id).status is DeliveryStatus.SENT
        assert session.get(OutboxJob, row.id).completed_at is not None
        assert len(smtp.to("subject@example.org")) == 1
    get_db(app).dispose()


def test_the_last_attempt_knows_it_is_the_last_and_the_row_fails_for_good(smtp, app):
    smtp.fail_next = 10  # always "try again later"
    with app.app_context(), get_db(app).session() as session:
        message = _message(session)
        row = defer(session, deliver_message, message.id)
        session.commit()
        run_jobs(app)  # JOB_RETRY_INTERVALS has two zero entries in tests: three attempts at once
        session.expire_all()
        assert session.get(Message, message.id).status is DeliveryStatus.FAILED  # marked on the final attempt
        assert session.get(Message, message.id).attempts == 3
        stored = session.get(OutboxJob, row.id)
        assert stored.completed_at is not None and stored.attempts == 2  # the last attempt handled it


def test_a_job_that_failed_without_recording_it_gets_its_retry_from_the_sweep(smtp, app, monkeypatch):
    smtp.fail_next = 1
    monkeypatch.setattr(job_runtime, "record_failure", _database_away)  # the failure cannot be written down
    with app.app_context(), get_db(app).session() as session:
        message = _message(session)
        row = defer(session, deliver_message, message.id)
        session.commit()
        run_jobs(app, max_rounds=1)
        monkeypatch.undo()
        session.expire_all()
        assert session.get(OutboxJob, row.id).attempts == 0 and smtp.to("subject@example.org") == []
        assert sweep_outbox(app)["failed"] == 1  # found among RQ's failed jobs, retried once
        assert sweep_outbox(app)["failed"] == 0
        run_jobs(app)
        session.expire_all()
        assert session.get(OutboxJob, row.id).attempts == 1
        assert session.get(Message, message.id).status is DeliveryStatus.SENT
        assert len(smtp.to("subject@example.org")) == 1


def _database_away(*args, **kwargs):
    raise sa.exc.OperationalError("UPDATE outbox_jobs", {}, Exception("connection refused"))
