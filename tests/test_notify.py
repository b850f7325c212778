"""Mail and SMS delivery: real SMTP server, retries, failures shown instead of lost, no secrets at rest."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from dsr.crypto import seal
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection
from dsr.notify.service import SECRET_PLACEHOLDER, deliver_message
from dsr.queue.outbox import defer
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import text_of


def _queue(session, **overrides) -> Message:
    values = dict(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                  to_address="kari@example.org", subject_line="Din forespørsel", body_text="Hei Kari",
                  body_html="<p>Hei Kari</p>", template="test")
    values.update(overrides)
    message = Message(**values)
    session.add(message)
    session.flush()
    defer(session, deliver_message, message.id)
    session.commit()
    return message


def test_mail_reaches_a_real_smtp_server_with_text_and_html(smtp, app, session):
    message = _queue(session)
    run_jobs(app)
    (received,) = smtp.wait_for("kari@example.org")
    assert received["Subject"] == "Din forespørsel"
    assert text_of(received).strip() == "Hei Kari"
    assert received.get_body(preferencelist=("html",)).get_content().strip() == "<p>Hei Kari</p>"
    assert received["Message-ID"] == f"<dsr-msg-{message.id}@localhost>"
    session.expire_all()
    assert session.get(Message, message.id).status is DeliveryStatus.SENT


def test_a_deferred_mail_is_retried_and_then_sent(smtp, app, session):
    smtp.fail_next = 1  # the server answers 451 once
    message = _queue(session)
    run_jobs(app)
    smtp.wait_for("kari@example.org")
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored.status is DeliveryStatus.SENT and stored.attempts == 2


def test_a_mail_that_keeps_failing_is_marked_failed_for_staff_not_lost(smtp, app, session):
    smtp.fail_next = 99
    message = _queue(session)
    run_jobs(app)
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored.status is DeliveryStatus.FAILED
    assert stored.attempts == len(app.config["JOB_RETRY_INTERVALS"]) + 1
    assert "deferred" in stored.last_error


def test_a_refused_recipient_fails_at_once_without_retries(smtp, app, session):
    smtp.refuse.add("nobody@example.org")
    message = _queue(session, to_address="nobody@example.org")
    run_jobs(app)
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored.status is DeliveryStatus.FAILED and stored.attempts == 1


def test_a_header_with_a_line_break_is_never_sent(smtp, app, session):
    message = _queue(session, subject_line="Hello\r\nBcc: victim@example.org")
    run_jobs(app)
    session.expire_all()
    assert session.get(Message, message.id).status is DeliveryStatus.FAILED
    assert smtp.messages == []


def test_without_smtp_host_mail_is_written_to_the_outbox_folder(app, session):
    message = _queue(session)
    run_jobs(app)
    (path,) = Path(app.config["OUTBOX_DIR"]).glob("*.eml")
    assert f"-{message.id:06d}-test.eml" in path.name
    assert "Hei Kari" in path.read_text()


def test_sms_without_gateway_is_a_line_in_sms_log(app, session):
    _queue(session, channel=DeliveryChannel.SMS, to_address="+4791234567", body_text="Kode: 123456",
           subject_line=None, body_html=None)
    run_jobs(app)
    line = (Path(app.config["OUTBOX_DIR"]) / "sms.log").read_text().strip()
    assert line.endswith("+4791234567\tKode: 123456")


def test_a_sealed_secret_is_sent_but_never_stored(app, session):
    with app.app_context():
        sealed = seal("482913")
    message = _queue(session, body_text=f"Your code is {SECRET_PLACEHOLDER}", body_html=None, secret_sealed=sealed)
    run_jobs(app)
    (path,) = Path(app.config["OUTBOX_DIR"]).glob("*.eml")
    assert "Your code is 482913" in path.read_text()
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored.secret_sealed is None and "482913" not in stored.body_text
    dump = " ".join(str(v) for row in session.execute(sa.select(Message.__table__)).all() for v in row)
    assert "482913" not in dump
