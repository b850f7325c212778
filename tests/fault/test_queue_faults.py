"""Workers and Redis die; nothing that was committed is lost, and nothing is sent twice.

F1 (mail variant): SIGKILL a worker while it is sending; F6: Redis SIGKILLed during a burst and
restarted empty; F10: web process dies between commit and publish (covered by the sweep tests in
tests/test_worker_process.py). Figures are printed (`pytest -s` shows them; CI logs keep them).
"""
from __future__ import annotations

import time

import sqlalchemy as sa

from dsr import create_app
from dsr.db import get_db, utcnow
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection, OutboxJob
from dsr.notify.service import deliver_message
from dsr.queue.outbox import defer
from tests.fault.conftest import kill_group
from tests.helpers.jobs import spawn_worker, wait_until


def _queue_mail(app, to: str) -> int:
    with app.app_context(), get_db(app).session() as session:
        message = Message(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL, to_address=to,
                          subject_line="Kvittering", body_text=f"Mottatt for {to}")
        session.add(message)
        session.flush()
        defer(session, deliver_message, message.id)
        session.commit()
        return message.id


def _statuses(app, ids: list[int]) -> dict[int, DeliveryStatus]:
    with get_db(app).session() as session:
        return dict(session.execute(sa.select(Message.id, Message.status).where(Message.id.in_(ids))).all())


def test_a_worker_killed_while_sending_loses_nothing_and_the_mail_goes_out_once(smtp, app_config, private_redis,
                                                                               tmp_path):
    app_config["REDIS_URL"] = private_redis.url
    app = create_app(app_config)
    smtp.rcpt_delay = 60  # the first attempt hangs at the mail server...
    first = spawn_worker(app, tmp_path / "worker-1.log")
    message_id = _queue_mail(app, "kari@example.org")
    try:
        assert smtp.rcpt_seen.wait(60), "the worker never reached the mail server"
        killed_at = time.monotonic()
        kill_group(first)  # ...and its worker dies mid-send (parent, horse and scheduler)
        smtp.rcpt_delay = 0
        second = spawn_worker(app, tmp_path / "worker-2.log")
        try:
            smtp.wait_for("kari@example.org", timeout=60)
            recovery = time.monotonic() - killed_at
            wait_until(lambda: _statuses(app, [message_id])[message_id] is DeliveryStatus.SENT, timeout=20,
                       message="message marked sent")
            time.sleep(2)  # room for a duplicate to show up
            print(f"\nF1 mail: recovery_seconds={recovery:.1f} deliveries={len(smtp.to('kari@example.org'))}")
            assert len(smtp.to("kari@example.org")) == 1
            assert recovery < app_config["WORKER_BEACON_TTL"] + 20
        finally:
            kill_group(second)
    finally:
        kill_group(first)


def test_redis_killed_during_a_burst_and_restarted_empty_loses_nothing(smtp, app_config, private_redis, tmp_path):
    app_config.update(REDIS_URL=private_redis.url, JOB_LEASE_SECONDS=2)
    app = create_app(app_config)
    worker = spawn_worker(app, tmp_path / "worker.log")
    addresses = [f"subject{n}@example.org" for n in range(40)]
    ids: list[int] = []
    try:
        for n, address in enumerate(addresses):
            if n == 15:
                private_redis.kill()  # Redis dies without persistence: every queued job is gone
            if n == 30:
                private_redis.start()  # and comes back empty
            ids.append(_queue_mail(app, address))  # commits succeed whatever Redis does
        started = time.monotonic()
        wait_until(lambda: all(s is DeliveryStatus.SENT for s in _statuses(app, ids).values()), timeout=120,
                   interval=0.5, message="every message sent after Redis returned")
        elapsed = time.monotonic() - started
        time.sleep(2)
        counts = {address: len(smtp.to(address)) for address in addresses}
        with get_db(app).session() as session:
            republished = session.scalar(sa.select(sa.func.count()).where(OutboxJob.publish_count > 0))
        print(f"\nF6: submitted={len(ids)} delivered={sum(counts.values())} republished={republished} "
              f"drain_seconds={elapsed:.1f}")
        assert counts == {address: 1 for address in addresses}  # 0 lost, 0 duplicates
    finally:
        kill_group(worker)


def test_a_dead_workers_scheduled_retries_run_on_the_other_worker_once_each(smtp, app_config, private_redis,
                                                                             tmp_path):
    """F13, as the portal schedules work: retries wait in the outbox (run_at), and any worker's sweep
    publishes them when due. Two workers share the failures; one is SIGKILLed while every retry is
    still waiting: the survivor sends each mail exactly once, within a sweep interval of its time."""
    interval = 4.0
    app_config.update(REDIS_URL=private_redis.url, JOB_RETRY_INTERVALS=[interval, interval], OUTBOX_SWEEP_SECONDS=0.5)
    app = create_app(app_config)
    addresses = [f"retry{n}@example.org" for n in range(20)]
    smtp.fail_next = len(addresses)  # every first attempt hears "451 try again later"
    workers = [spawn_worker(app, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    try:
        ids = [_queue_mail(app, address) for address in addresses]

        def first_attempts_done():
            with get_db(app).session() as session:
                return session.scalar(sa.select(sa.func.count()).where(OutboxJob.attempts == 1)) == len(ids)

        wait_until(first_attempts_done, timeout=60, message="every first attempt failed and was rescheduled")
        with get_db(app).session() as session:
            due = dict(session.execute(sa.select(OutboxJob.id, OutboxJob.run_at)).all())
            assert all(at > utcnow() for at in due.values()), "the test must kill before any retry is due"
        kill_group(workers[0])  # the other holds no lock to wait for: every worker's sweep publishes
        wait_until(lambda: all(s is DeliveryStatus.SENT for s in _statuses(app, ids).values()), timeout=60,
                   interval=0.2, message="every retried mail sent by the surviving worker")
        time.sleep(2)  # room for a duplicate to show up
        with get_db(app).session() as session:
            sent = dict(session.execute(sa.select(Message.id, Message.sent_at)).all())
            by_message = dict(session.execute(sa.select(OutboxJob.id, OutboxJob.args)).all())
        lateness = [(sent[by_message[row_id][0]] - run_at).total_seconds() for row_id, run_at in due.items()]
        counts = {address: len(smtp.to(address)) for address in addresses}
        print(f"\nF13 retries: missing={sum(1 for c in counts.values() if c == 0)} "
              f"duplicates={sum(max(0, c - 1) for c in counts.values())} max_lateness_s={max(lateness):.2f}")
        assert counts == {address: 1 for address in addresses}
        assert max(lateness) < app_config["OUTBOX_SWEEP_SECONDS"] + 3
    finally:
        for worker in workers:
            kill_group(worker)
