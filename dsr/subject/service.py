"""What the subject can do on their case page: read where it stands, write to us, withdraw it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.conversation import subject_answered, tell_staff_of_message
from dsr.cases.decisions import end_pauses
from dsr.cases.states import Action
from dsr.db import utcnow
from dsr.identity.codes import burn_waiting_codes
from dsr.identity.subject_access import case_rows_for_subject_or_404, case_with_access
from dsr.models import (
    DeliveryChannel,
    DeliveryStatus,
    Message,
    MessageDirection,
    RequestStatus,
    SubjectRequest,
)
from dsr.notify.letters import send_subject_letter
from dsr.notify.service import SECRET_PLACEHOLDER

WITHDRAWN_LETTER = "request_withdrawn"

#: letters the portal itself sends about identity; they are not part of the conversation with staff
IDENTITY_LETTERS = frozenset(
    {
        "request_received",
        "verification_code",
        "verification_reminder",
        "step_up_code",
        "reopen_code",
        "download_code",
        "request_expired",
        "request_withdrawn",
        "request_verified",
    }
)

STATUS_TEXT = {
    RequestStatus.AWAITING_VERIFICATION: _l("Waiting for you to confirm who you are"),
    RequestStatus.OPEN: _l("Received and confirmed: waiting for our privacy team"),
    RequestStatus.AWAITING_SUBJECT: _l("We have asked you for more information"),
    RequestStatus.AWAITING_PAYMENT: _l("Waiting for your payment of the fee we asked for"),
    RequestStatus.IN_PROGRESS: _l("We are working on it"),
    RequestStatus.READY_FOR_REVIEW: _l("We are checking the answer before we send it"),
    RequestStatus.COMPLETED: _l("Answered"),
    RequestStatus.REJECTED: _l("Turned down"),
    RequestStatus.WITHDRAWN: _l("Withdrawn by you"),
    RequestStatus.EXPIRED: _l("Closed: never confirmed"),
}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    text: object  # lazy text


def timeline(request: SubjectRequest) -> list[TimelineEntry]:
    """The milestones of the case, oldest first, from the case's own dates."""
    entries = [TimelineEntry(request.received_at, _l("We received your request"))]
    if request.verified_at:
        entries.append(TimelineEntry(request.verified_at, _l("You confirmed who you are")))
    # A "we hold no data" answer given before approval is a decision and the answer at once.
    if request.decided_at and request.status is not RequestStatus.REJECTED and (
            request.decided_at != request.answered_no_data_at):
        entries.append(TimelineEntry(request.decided_at, _l("We started carrying out your request")))
    if request.decided_at and request.status is RequestStatus.REJECTED:
        entries.append(TimelineEntry(request.decided_at, _l("We turned down your request")))
    if request.extended_at:
        entries.append(TimelineEntry(request.extended_at, _l("We extended the time we need to answer")))
    if request.withdrawn_at:
        entries.append(TimelineEntry(request.withdrawn_at, _l("You withdrew your request")))
    elif request.closed_at and request.status is RequestStatus.EXPIRED:
        entries.append(
            TimelineEntry(request.closed_at, _l("The request closed because it was not confirmed"))
        )
    elif request.closed_at and request.status is RequestStatus.COMPLETED:
        entries.append(TimelineEntry(request.closed_at, _l("We answered your request")))
    return sorted(entries, key=lambda entry: entry.at)


_SHOWN_DIRECTIONS = (MessageDirection.TO_SUBJECT, MessageDirection.FROM_SUBJECT)
#: what the page shows and the filter below reads (a letter's HTML and sealed code stay in the database)
_SHOWN_COLUMNS = orm.load_only(Message.request_id, Message.direction, Message.template, Message.subject_line,
                               Message.body_text, Message.created_at)

#: built once (the case page shows it at every view)
_CONVERSATION = (
    sa.select(Message)
    .where(Message.request_id == sa.bindparam("request_id"), Message.direction.in_(_SHOWN_DIRECTIONS))
    .order_by(Message.created_at, Message.id)
    .options(_SHOWN_COLUMNS)
)

#: the case page's one query: the case, this browser's access to it, and its messages (one row for each
#: access row and message). A database round trip fewer than asking for the messages after the case.
_CASE_WITH_CONVERSATION = (
    case_with_access(Message)
    .outerjoin(Message, sa.and_(Message.request_id == SubjectRequest.id, Message.direction.in_(_SHOWN_DIRECTIONS)))
    .order_by(Message.created_at, Message.id)
    .options(_SHOWN_COLUMNS)
)


def conversation(session: orm.Session, request: SubjectRequest) -> list[Message]:
    """Messages between the subject and staff (not internal notes, not code letters)."""
    return _shown(session.scalars(_CONVERSATION, {"request_id": request.id}).all())


def case_and_conversation_or_404(public_id: str) -> tuple[SubjectRequest, list[Message]]:
    """The case this browser has proven (or 404) and its conversation, as conversation() gives it."""
    rows = case_rows_for_subject_or_404(public_id, _CASE_WITH_CONVERSATION)
    messages = dict.fromkeys(row[2] for row in rows if row[2] is not None)  # in order, once per access row
    return rows[0][0], _shown(list(messages))


def _shown(messages: list[Message]) -> list[Message]:
    return [
        m
        for m in messages
        if m.direction is MessageDirection.FROM_SUBJECT
        or (m.template not in IDENTITY_LETTERS and SECRET_PLACEHOLDER not in (m.body_text or ""))
    ]


def can_reply(request: SubjectRequest) -> bool:
    return request.status not in states.FINAL


def can_withdraw(request: SubjectRequest) -> bool:
    return Action.WITHDRAW in states.allowed_actions(request.status)


def post_reply(session: orm.Session, request: SubjectRequest, text: str) -> Message:
    """The subject writes to us on the case page (shown to staff on the case)."""
    if not can_reply(request):
        raise states.IllegalTransition(request.status, Action.SUBJECT_ANSWERED)
    message = Message(
        request_id=request.id,
        direction=MessageDirection.FROM_SUBJECT,
        channel=DeliveryChannel.PORTAL,
        language=request.language,
        body_text=text,
        status=DeliveryStatus.NOT_SENT,
    )
    session.add(message)
    session.flush()
    record(session, "subject.replied", actor_type="subject", request_id=request.id, message_id=message.id)
    # An answer to staff's question ends the identity pause and moves the case on (staff are told);
    # any other message is passed on to the responsible staff as it is.
    if not subject_answered(session, request, message):
        tell_staff_of_message(session, request)
    return message


def withdraw(session: orm.Session, request: SubjectRequest) -> None:
    """The subject takes the request back; a letter confirms it. Raises IllegalTransition when closed."""

    states.apply(request, Action.WITHDRAW)
    now = utcnow()
    request.withdrawn_at = request.closed_at = now
    end_pauses(request, now)
    burn_waiting_codes(session, request)
    record(session, "case.withdrawn", actor_type="subject", request_id=request.id)
    send_subject_letter(session, request, WITHDRAWN_LETTER, dedupe_key=f"withdrawn:{request.id}")
    session.flush()
