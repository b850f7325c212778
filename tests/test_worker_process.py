"""A real `flask dsr worker` process runs jobs on the configured Redis, its sweep picks up leftovers, and at
start it prepares what the first job would otherwise wait for."""
from __future__ import annotations

from dsr import create_app
from dsr.connectors.registry import get_systems
from dsr.db import get_db
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection
from dsr.notify.service import deliver_message
from dsr.queue.outbox import defer
from dsr.queue.worker import warm_up
from tests.helpers.jobs import spawn_worker, stop_worker, wait_until
from tests.helpers.systems import system, write_systems


def test_worker_process_delivers_mail_to_a_real_smtp_server(smtp, app, tmp_path):
    worker = spawn_worker(app, tmp_path / "worker.log")
    try:
        with app.app_context(), get_db(app).session() as session:
            message = Message(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                              to_address="ola@example.org", subject_line="Kvittering", body_text="Mottatt")
            session.add(message)
            session.flush()
            defer(session, deliver_message, message.id)
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
    app_config["OUTBOX_RELAY_INLINE"] = False  # as if the web process died between commit and publish
    app = create_app(app_config)
    with app.app_context(), get_db(app).session() as session:
        message = Message(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                          to_address="per@example.org", subject_line="Kvittering", body_text="Mottatt")
        session.add(message)
        session.flush()
        defer(session, deliver_message, message.id)
        session.commit()
    worker = spawn_worker(app, tmp_path / "worker.log")
    try:
        smtp.wait_for("per@example.org", timeout=30)
    finally:
        stop_worker(worker)
        get_db(app).dispose()


def _shop(key: str, **where) -> str:
    return system(key=key, name=f"Shop {key}", kind="sql", **where,
                  tables=[{"name": "customers", "identity": {"email": "email"}}])


def test_a_starting_worker_loads_its_systems_drivers_without_connecting_and_survives_a_broken_one(
        app_config, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("DSR_TEST_NO_SUCH_LEDGER_URL", raising=False)
    shop_file = tmp_path / "shop.sqlite3"
    systems = write_systems(tmp_path, _shop("shop", url=f"sqlite:///{shop_file}"),
                            _shop("ledger", url_env="DSR_TEST_NO_SUCH_LEDGER_URL"))
    app = create_app({**app_config, "SYSTEMS_FILE": str(systems)})

    warm_up(app)  # a system whose URL variable is unset must not stop the worker: its job reports it

    systems = get_systems(app)
    assert systems["shop"].connector._engine is not None  # driver loaded for the first job
    assert not shop_file.exists()  # ... and nothing connected (SQLite would have created the file)
    assert systems["ledger"].connector._engine is None
    assert "system ledger could not be prepared" in caplog.text
