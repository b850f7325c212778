"""Messages: rendered in the case's language when queued (the record of what was said), sent by a job.

Letters live in `templates/emails/<lang>/<template>.txt` (first line `Subject: ...`, then
the body) with an optional `.html` twin; SMS texts in `templates/sms/<lang>/<template>.txt`.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from jinja2 import TemplateNotFound
from sqlalchemy import orm

from dsr.bundle.signing import installation_fingerprint
from dsr.crypto import seal, unseal
from dsr.db import utcnow
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection
from dsr.notify.transports import (
    MailTransport,
    PermanentDeliveryError,
    SmsTransport,
    TransientDeliveryError,
    build_email,
)
from dsr.queue import QUEUE_NOTIFY, RetryLater, defer, is_final_attempt, job

log = logging.getLogger(__name__)

# Templates render `{{ secret }}` as this placeholder; the send job puts the sealed secret
# (a one-time code, a zip password) in its place, so the stored message never holds it.
SECRET_PLACEHOLDER = "[[dsr-secret]]"


def render_letter(template: str, language: str, context: dict[str, Any]) -> tuple[str, str, str | None]:
    """Subject, text and (optional) HTML of a letter in `language`."""
    context = {**_letter_facts(), **context}
    with force_locale(language):
        raw = render_template(f"emails/{language}/{template}.txt", **context)
        first, _, body = raw.partition("\n")
        if not first.startswith("Subject:"):
            raise ValueError(f"emails/{language}/{template}.txt must start with 'Subject: '")
        try:
            html = render_template(f"emails/{language}/{template}.html", **context)
        except TemplateNotFound:
            html = None
    return first.removeprefix("Subject:").strip(), body.lstrip("\n"), html


def _letter_facts() -> dict[str, Any]:
    """What any letter may cite about the installation: the fingerprint of the key that signs export
    bundles, which the subject compares with what a signature checker shows for their file."""
    return {"bundle_key_fingerprint": installation_fingerprint(current_app.config.get("SIGNING_KEY"))}


def render_sms(template: str, language: str, context: dict[str, Any]) -> str:
    with force_locale(language):
        return " ".join(render_template(f"sms/{language}/{template}.txt", **context).split())


def queue_email(session: orm.Session, *, to: str, template: str, language: str, context: dict[str, Any],
                request_id: int | None = None, direction: MessageDirection = MessageDirection.TO_SUBJECT,
                dedupe_key: str | None = None, author_id: int | None = None, secret: str | None = None) -> Message:
    """Render and store a mail, and defer its delivery in the caller's transaction."""
    subject, text, html = render_letter(template, language, {**context, "secret": SECRET_PLACEHOLDER})
    message = Message(request_id=request_id, direction=direction, channel=DeliveryChannel.EMAIL,
                      template=template, language=language, to_address=to, subject_line=subject,
                      body_text=text, body_html=html, dedupe_key=dedupe_key, author_id=author_id)
    return _store_and_defer(session, message, secret)


def queue_sms(session: orm.Session, *, to: str, template: str, language: str, context: dict[str, Any],
              request_id: int | None = None, dedupe_key: str | None = None, secret: str | None = None) -> Message:
    text = render_sms(template, language, {**context, "secret": SECRET_PLACEHOLDER})
    message = Message(request_id=request_id, direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.SMS,
                      template=template, language=language, to_address=to, body_text=text, dedupe_key=dedupe_key)
    return _store_and_defer(session, message, secret)


def _store_and_defer(session: orm.Session, message: Message, secret: str | None) -> Message:
    if secret is not None:
        message.secret_sealed = seal(secret)
    session.add(message)
    session.flush()
    defer(session, deliver_message, message.id, request_id=message.request_id)
    return message


@job(QUEUE_NOTIFY)
def deliver_message(session: orm.Session, message_id: int) -> str | None:
    """The delivery job of one stored message."""
    status = deliver(session, message_id, final_attempt=is_final_attempt())
    return None if status is None else str(status)


def deliver(session: orm.Session, message_id: int, *, final_attempt: bool) -> DeliveryStatus | None:
    """Send one stored message. Idempotent: a sent message is not sent again.

    A transient failure is raised for RQ to retry, except on the final attempt, where the
    message is marked failed so staff see it on the case instead of it dying silently.
    """
    message = session.get(Message, message_id)
    if message is None or message.status is not DeliveryStatus.PENDING:
        return None if message is None else message.status
    message.attempts += 1
    try:
        _send(message)
    except PermanentDeliveryError as exc:
        return _mark_failed(message, str(exc))
    except TransientDeliveryError as exc:
        if final_attempt:
            return _mark_failed(message, str(exc))
        message.last_error = str(exc)[:300]
        # The attempt count and the error are kept although the job is retried.
        raise RetryLater(str(exc)[:200]) from exc
    message.status = DeliveryStatus.SENT
    message.sent_at = utcnow()
    message.last_error = None
    message.secret_sealed = None  # the secret has done its job; it is not kept
    return message.status


def _mark_failed(message: Message, reason: str) -> DeliveryStatus:
    message.status = DeliveryStatus.FAILED
    message.last_error = reason[:300]
    message.secret_sealed = None  # a code or password nobody received is not kept; a new one is sent instead
    log.warning("message %s failed for good: %s", message.id, reason)
    return message.status


def _send(message: Message) -> None:
    config = current_app.config
    key = f"dsr-msg-{message.id}"
    text, html = _with_secrets(message, message.body_text), _with_secrets(message, message.body_html)
    if message.channel is DeliveryChannel.SMS:
        SmsTransport(config).send(message.to_address, text, key)
        return
    domain = urlsplit(config["BASE_URL"]).hostname or "localhost"
    email = build_email(sender=config["MAIL_FROM"], to=message.to_address, subject=message.subject_line or "",
                        text=text, html=html, message_key=key, domain=domain)
    stem = f"{message.created_at:%Y%m%dT%H%M%S}-{message.id:06d}-{message.template or 'message'}"
    MailTransport(config).send(email, stem)


def _with_secrets(message: Message, body: str | None) -> str | None:
    if body is None or SECRET_PLACEHOLDER not in body:
        return body
    if not message.secret_sealed:
        raise PermanentDeliveryError("the one-time secret for this message is no longer available")
    return body.replace(SECRET_PLACEHOLDER, unseal(message.secret_sealed))
