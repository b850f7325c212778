"""Messages: rendered in the case's language when queued (the record of what was said), sent by a job.

Letters live in `templates/emails/<lang>/<template>.txt` (first line `Subject: ...`, then
the body) with an optional `.html` twin; SMS texts in `templates/sms/<lang>/<template>.txt`.

What stands for the subject never rests in a stored body: a one-time code or ZIP password is a
placeholder whose value is sealed on the message until it is sent (then dropped); the case link and
the verification link are placeholders the send job fills in, made at sending for this message. Pages
show a stored letter through `shown_text`, which names each placeholder instead.
"""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateNotFound
from markupsafe import escape
from sqlalchemy import orm

from dsr.bundle.signing import installation_fingerprint
from dsr.crypto import seal, unseal
from dsr.db import utcnow
from dsr.links import case_link_url, verify_link_url
from dsr.models import (
    DeliveryChannel,
    DeliveryStatus,
    Message,
    MessageDirection,
    SubjectRequest,
    VerificationChallenge,
)
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
#: `{{ case_url }}` in a letter to the subject: the send job makes the case link for this message
CASE_LINK_PLACEHOLDER = "[[dsr-case-link]]"
#: `{{ link_url }}` in a letter carrying a verification code: the link of that code's challenge
VERIFY_LINK_PLACEHOLDER = "[[dsr-verify-link]]"

#: what each placeholder stands for, when a page shows a stored letter
PLACEHOLDER_LABELS = {
    SECRET_PLACEHOLDER: _l("[one-time code]"),
    CASE_LINK_PLACEHOLDER: _l("[link to the request's page]"),
    VERIFY_LINK_PLACEHOLDER: _l("[confirmation link]"),
}
# Letters stored before the placeholders hold their links in clear: pages name those too.
_CLEAR_LINK = re.compile(r"\bhttps?://[^\s\"'<>]*?/(case/open|verify/link)/[A-Za-z0-9_.\-]+")
_CLEAR_LINK_KIND = {"case/open": CASE_LINK_PLACEHOLDER, "verify/link": VERIFY_LINK_PLACEHOLDER}
SECRET_LOST = ("This letter carried a one-time code or password, which is not kept once its delivery has "
               "failed, so it cannot be sent again. The subject can ask for a new code on the portal, or "
               "contact them another way.")


def shown_text(body: str | None) -> str:
    """A stored letter as a page shows it (to staff, to the subject, in the bundle): each placeholder
    named in the page's language, never filled in."""
    text = _CLEAR_LINK.sub(lambda match: _CLEAR_LINK_KIND[match.group(1)], body or "")
    for placeholder, label in PLACEHOLDER_LABELS.items():
        text = text.replace(placeholder, str(label))
    return text


def why_not_resendable(message: Message) -> str | None:
    """Why "Send again" cannot work for this failed message, or None when it can."""
    bodies = (message.body_text or "") + (message.body_html or "")
    return SECRET_LOST if SECRET_PLACEHOLDER in bodies and not message.secret_sealed else None


def render_letter(template: str, language: str, context: dict[str, Any]) -> tuple[str, str, str | None]:
    """Subject, text and (optional) HTML of a letter in `language`. A letter to someone acting for the
    subject (`on_behalf_of`: the subject's name) opens by naming the subject."""
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
        body = body.lstrip("\n")
        if context.get("on_behalf_of"):
            line = render_template(f"emails/{language}/_on_behalf.txt", **context).strip()
            body = f"{line}\n\n{body}"
            if html is not None:
                html = html.replace("<body>", f"<body>\n<p><strong>{escape(line)}</strong></p>", 1)
    return first.removeprefix("Subject:").strip(), body, html


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


def queue_post_letter(session: orm.Session, *, to: str | None, template: str, language: str,
                      context: dict[str, Any], request_id: int, dedupe_key: str | None = None,
                      author_id: int | None = None) -> Message:
    """Render and store a letter staff print and post (`to`: the postal address). Nothing is deferred:
    it stays "to send" until staff record that it went (dsr.notify.post.record_posted)."""
    subject, text, _html = render_letter(template, language, {**context, "by_post": True})
    message = Message(request_id=request_id, direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.POST,
                      template=template, language=language, to_address=to, subject_line=subject,
                      body_text=text, dedupe_key=dedupe_key, author_id=author_id)
    session.add(message)
    session.flush()
    return message


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
    if message.channel is DeliveryChannel.POST:
        return message.status  # a person prints and posts it, then records that it went
    message.attempts += 1
    try:
        _send(session, message)
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


def _send(session: orm.Session, message: Message) -> None:
    config = current_app.config
    key = f"dsr-msg-{message.id}"
    values = _placeholder_values(session, message)
    text, html = _filled(message.body_text, values), _filled(message.body_html, values, html=True)
    if message.channel is DeliveryChannel.SMS:
        SmsTransport(config).send(message.to_address, text, key)
        return
    domain = urlsplit(config["BASE_URL"]).hostname or "localhost"
    email = build_email(sender=config["MAIL_FROM"], to=message.to_address, subject=message.subject_line or "",
                        text=text, html=html, message_key=key, domain=domain)
    stem = f"{message.created_at:%Y%m%dT%H%M%S}-{message.id:06d}-{message.template or 'message'}"
    MailTransport(config).send(email, stem)


def _placeholder_values(session: orm.Session, message: Message) -> dict[str, str]:
    """The values of the placeholders this message's bodies hold, made or unsealed now."""
    bodies = (message.body_text or "") + (message.body_html or "")
    values: dict[str, str] = {}
    if SECRET_PLACEHOLDER in bodies:
        if not message.secret_sealed:
            raise PermanentDeliveryError("the one-time secret for this message is no longer available")
        values[SECRET_PLACEHOLDER] = unseal(message.secret_sealed)
    request = session.get(SubjectRequest, message.request_id) if message.request_id else None
    if CASE_LINK_PLACEHOLDER in bodies:
        if request is None:
            raise PermanentDeliveryError("a case link needs the message's request")
        values[CASE_LINK_PLACEHOLDER] = case_link_url(request.public_id, message.id)
    if VERIFY_LINK_PLACEHOLDER in bodies:
        nonce = session.scalar(sa.select(VerificationChallenge.link_nonce)
                               .where(VerificationChallenge.message_id == message.id))
        if request is None or not nonce:
            raise PermanentDeliveryError("the verification link for this message is no longer available")
        values[VERIFY_LINK_PLACEHOLDER] = verify_link_url(request.public_id, nonce)
    return values


def _filled(body: str | None, values: dict[str, str], *, html: bool = False) -> str | None:
    if body is None:
        return None
    for placeholder, value in values.items():
        body = body.replace(placeholder, str(escape(value)) if html else value)
    return body
