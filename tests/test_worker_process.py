"""A real `flask dsr worker` process runs jobs on the configured Redis, and its sweep picks up leftovers."""
from __future__ import annotations


from dsr import jobs
from dsr.db import get_db
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection
from tests.support import stop_worker, spawn_worker, wait_until


def test_worker_process_delivers_mail_to_a_real_smtp_server(smtp, app, tmp_path):
    worker = spawn_worker(app, tmp_path / "worker.log")
    try:
        with app.app_context(), get_db(app).session() as session:
            message = Message(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                              to_address="ola@example.org", subject_line="Kvittering", body_text="Mottatt")
            session.add(message)
            session.flush()
            jobs.defer(session, "deliver_message", message.id)
            session.commit()
            smtp.wait_for("ola@example.org", timeout=30)

            def sent():
                session.expire_all()
                return session.get(Message, message.id).status is DeliveryStatus.SENT

            wait_until(sent, timeout=10, message="message marked sent")
    finally:
        stop_worker(worker)
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()


def test_worker_sweep_publishes_rows_the_web_could_not(smtp, app_config, tmp_path):
    from dsr import create_app

    app_config["OUTBOX_RELAY_INLINE"] = False  # as if the web process died between commit and publish
    app = create_app(app_config)
    with app.app_context(), get_db(app).session() as session:
        message = Message(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                          to_address="per@example.org", subject_line="Kvittering", body_text="Mottatt")
        session.add(message)
        session.flush()
        jobs.defer(session, "deliver_message", message.id)
        session.commit()
    worker = spawn_worker(app, tmp_path / "worker.log")
    try:
        smtp.wait_for("per@example.org", timeout=30)
    finally:
        stop_worker(worker)
        get_db(app).engine.dispose()
