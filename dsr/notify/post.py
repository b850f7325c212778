"""Letters by post, for someone without e-mail: a letter is stored like any other (dsr.notify.letters
chooses the channel), staff print it on the controller's letterhead, post it, and record that it went.
Until then it stays "to send" on the case page; recording it is audited."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.controller import Controller
from dsr.db import utcnow
from dsr.deadlines.rules import local_date
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection, SubjectRequest
from dsr.notify.service import shown_text


class PostError(ValueError):
    """The letter cannot be recorded as posted (the message says why)."""


@dataclass(frozen=True)
class PrintedLetter:
    """What the printable page shows: the letterhead, the address block, the date, the letter."""

    controller: Controller
    recipient_name: str
    recipient_address: str
    dated: date  # the day the letter was written, in the controller's time zone
    reference: str
    subject_line: str
    body: str
    language: str


def letters_to_post(session: orm.Session, request_id: int) -> list[Message]:
    """The case's letters waiting to be printed and posted, oldest first."""
    return list(session.scalars(sa.select(Message).where(
        Message.request_id == request_id, Message.channel == DeliveryChannel.POST,
        Message.status == DeliveryStatus.PENDING).order_by(Message.id)))


def printed_letter(request: SubjectRequest, message: Message, controller: Controller) -> PrintedLetter:
    return PrintedLetter(
        controller=controller.in_language(message.language),
        recipient_name=request.contact_name or "",
        recipient_address=message.to_address or "",
        dated=local_date(message.created_at, controller.timezone),
        reference=request.reference,
        subject_line=message.subject_line or "",
        body=shown_text(message.body_text),
        language=message.language,
    )


def post_letter_of(session: orm.Session, request: SubjectRequest, message_id: int) -> Message | None:
    message = session.get(Message, message_id)
    if message is None or message.request_id != request.id or message.channel is not DeliveryChannel.POST \
            or message.direction is not MessageDirection.TO_SUBJECT:
        return None
    return message


def record_posted(session: orm.Session, message: Message, *, actor_id: int) -> Message:
    """Staff printed the letter and posted it: it counts as sent from now (a deadline it answers, an
    Art. 18(3) notice that must reach the subject first, ...). Once only."""
    if message.channel is not DeliveryChannel.POST:
        raise PostError("this letter does not go by post")
    # Compare-and-set: two officers confirming at once record it once.
    posted = session.execute(sa.update(Message).where(
        Message.id == message.id, Message.status == DeliveryStatus.PENDING).values(
        status=DeliveryStatus.SENT, sent_at=utcnow())).rowcount
    session.refresh(message)
    if not posted:
        raise PostError("this letter was already recorded as sent by post")
    record(session, "letter.posted", actor_type="staff", actor_id=actor_id, request_id=message.request_id,
           message_id=message.id, template=message.template)
    session.flush()
    return message
