"""What the staff pages show: days left, the deadline box, the timeline, and identifiers masked for
viewers (S17). Templates get these objects, never the raw request, so a viewer's page cannot
contain the subject's e-mail address, phone number or name by accident. Letters are shown through
`Identifiers.letter`: no staff role sees the subject's case link, verification link or code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _n
from sqlalchemy import orm

from dsr.cases.access import browsers_with_access
from dsr.cases.labels import detail_label, detail_value, label, verification_label
from dsr.cases.states import FINAL
from dsr.complaint.kit import offers_complaint_kit
from dsr.deadlines.rules import days_left, local_date
from dsr.deadlines.service import deadlines_for
from dsr.i18n import staff_time
from dsr.models import (
    AuditEvent,
    Channel,
    DeliveryChannel,
    DeliveryStatus,
    Message,
    MessageDirection,
    PauseReason,
    RequestStatus,
    Right,
    StaffRole,
    StaffUser,
    SubjectRequest,
    SystemTask,
    TaskState,
)
from dsr.notify.service import shown_text, why_not_resendable

SOON_DAYS = 7
HIDDEN = "[hidden]"
REMOVED = _l("[removed]")  # a closed case reduced under the portal's retention (dsr.retention)
NO_EMAIL = _l("[no e-mail]")  # the subject gave none (answered by post, or through a representative)


def mask_email(email: str | None) -> str:
    if not email:
        return ""
    local, _, domain = email.partition("@")
    name, _, tld = domain.rpartition(".")
    return f"{local[:1]}•••@{name[:1]}•••.{tld}" if name else f"{local[:1]}•••"


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    return "••• •• " + digits[-3:] if len(digits) > 3 else "•••"


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    return " ".join(part[:1] + "." for part in name.split())


@dataclass(frozen=True)
class Urgency:
    days: int | None
    css: str  # tag-overdue | tag-soon | tag-ok
    text: object  # said in words too (a lazy text): colour is never the only signal


def urgency(deadline_on: date | None, today: date) -> Urgency:
    if deadline_on is None:
        return Urgency(None, "tag-overdue", _l("No deadline stored"))
    left = days_left(deadline_on, today)
    if left < 0:
        return Urgency(left, "tag-overdue", _n("Overdue by %(num)d day", "Overdue by %(num)d days", -left))
    if left == 0:
        return Urgency(0, "tag-soon", _l("Due today"))
    return Urgency(left, "tag-soon" if left <= SOON_DAYS else "tag-ok",
                   _n("%(num)d day left", "%(num)d days left", left))


class Identifiers:
    """The subject's identifiers as this staff member may see them."""

    def __init__(self, request: SubjectRequest, masked: bool):
        self.masked = masked
        self.email = mask_email(request.email) if masked else (request.email or "")
        self.phone = mask_phone(request.phone) if masked else (request.phone or "")
        self.full_name = mask_name(request.full_name) if masked else (request.full_name or "")
        self.postal_address = HIDDEN if masked and request.postal_address else (request.postal_address or "")
        acting = request.representative
        theirs = (acting.name, acting.email, acting.postal_address) if acting is not None else ()
        known = (request.email, request.phone, request.full_name, request.postal_address, *theirs)
        self._secrets = [value for value in known if value] if masked else []

    def redact(self, text: str | None) -> str:
        """Free text with the subject's identifiers replaced, for viewers."""
        text = text or ""
        for value in self._secrets:
            text = re.sub(re.escape(value), HIDDEN, text, flags=re.IGNORECASE)
        return text

    def letter(self, text: str | None) -> str:
        """A stored letter's text as staff read it: what each link or code is, never its value (a
        viewer could otherwise act as the subject with it), and redacted for viewers."""
        return self.redact(shown_text(text))


def is_masked(staff: StaffUser) -> bool:
    return staff.role is StaffRole.VIEWER


@dataclass
class QueueRow:
    id: int
    reference: str
    right: Right
    status: RequestStatus
    channel: Channel
    email: object  # the address, masked, or a lazy "[removed]" / "[no e-mail]"
    received_on: date
    deadline_on: date | None
    extended: bool
    assignee: str
    urgency: Urgency | None  # None: the case is closed, no deadline runs


def queue_rows(
    session: orm.Session, requests: list[SubjectRequest], *, masked: bool, today: date, tz: str
) -> list[QueueRow]:
    ids = {r.assignee_id for r in requests if r.assignee_id}
    names = (
        dict(
            session.execute(
                sa.select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    return [
        QueueRow(
            id=r.id,
            reference=r.reference,
            right=r.right,
            status=r.status,
            channel=r.channel,
            email=REMOVED if r.reduced_at else (mask_email(r.email) if masked else r.email) or NO_EMAIL,
            received_on=local_date(r.received_at, tz),
            deadline_on=r.deadline_on,
            extended=r.extended_at is not None,
            assignee=names.get(r.assignee_id, ""),
            urgency=None if r.status in FINAL else urgency(r.deadline_on, today),
        )
        for r in requests
    ]


@dataclass(frozen=True)
class FailedLetter:
    message: Message
    why_not_resendable: str | None  # None: "Send again" can work


@dataclass
class CaseView:
    request: SubjectRequest  # for status, dates and ids only; identifiers come from `who`
    who: Identifiers
    details: list[tuple[object, object]]  # (question, answer) in staff's words
    deadlines: object
    urgency: Urgency | None  # None: the case is closed, no deadline runs
    received_local: str
    messages: list[Message]
    failed_messages: list[FailedLetter]
    letters_to_post: list[Message]  # printed and posted by staff, not yet recorded as sent
    tasks: list[SystemTask]
    audit: list[AuditEvent]
    staff_names: dict[int, str]
    timeline: list[tuple[str, str]]
    subject_browsers: int  # browsers holding a proof of the case now (dsr.cases.access)
    offers_complaint_kit: bool  # the subject's page offers the whole correspondence as one file


def case_view(
    session: orm.Session, request: SubjectRequest, *, masked: bool, today: date, controller
) -> CaseView:
    tz = controller.timezone
    who = Identifiers(request, masked)
    details = [
        (detail_label(key), HIDDEN if masked else detail_value(key, value))
        for key, value in sorted((request.details or {}).items())
    ]
    messages = list(
        session.scalars(
            sa.select(Message)
            .where(Message.request_id == request.id, Message.direction != MessageDirection.TO_STAFF)
            .order_by(Message.created_at, Message.id)
        )
    )
    failed = [
        FailedLetter(m, why_not_resendable(m))
        for m in messages
        if m.direction is MessageDirection.TO_SUBJECT and m.status is DeliveryStatus.FAILED
    ]
    tasks = list(
        session.scalars(
            sa.select(SystemTask)
            .where(SystemTask.request_id == request.id)
            .order_by(SystemTask.system_key, SystemTask.action)
        )
    )
    audit = list(
        session.scalars(
            sa.select(AuditEvent).where(AuditEvent.request_id == request.id).order_by(AuditEvent.seq)
        )
    )
    names = dict(session.execute(sa.select(StaffUser.id, StaffUser.display_name)).all())
    return CaseView(
        request=request,
        who=who,
        details=details,
        deadlines=deadlines_for(request, controller),
        urgency=None if request.status in FINAL else urgency(request.deadline_on, today),
        received_local=staff_time(request.received_at, tz),
        messages=messages,
        failed_messages=failed,
        letters_to_post=[m for m in messages
                         if m.channel is DeliveryChannel.POST and m.status is DeliveryStatus.PENDING],
        tasks=tasks,
        audit=audit,
        staff_names=names,
        timeline=_timeline(request, messages, tz, who),
        subject_browsers=browsers_with_access(session, request),
        offers_complaint_kit=offers_complaint_kit(request),
    )


_PAUSE_TEXT = {
    PauseReason.IDENTITY: (_l("Clock paused: identity information asked for"),
                           _l("Clock running again: the subject answered")),
    PauseReason.FEE: (_l("Clock paused: waiting for the fee"),
                      _l("Clock running again: the fee was paid, waived or ended")),
}


def _timeline(request: SubjectRequest, messages: list[Message], tz: str, who: Identifiers) -> list[tuple[str, object]]:
    events = [(request.received_at, _l("Received (%(channel)s)", channel=label(request.channel)))]
    if request.verified_at:
        events.append((request.verified_at, _l("Identity established: %(method)s",
                                               method=verification_label(request.identity_method))))
    for pause in request.pauses:
        started, ended = _PAUSE_TEXT.get(pause.reason, _PAUSE_TEXT[PauseReason.IDENTITY])
        events.append((pause.started_at, started))
        if pause.ended_at:
            events.append((pause.ended_at, ended))
    if request.extended_at:
        events.append((request.extended_at, _l("Extended to %(date)s", date=_iso(request.extended_due_on))))
    if request.decided_at and request.decided_at != request.answered_no_data_at:
        events.append((request.decided_at, _l("Decided: refused") if request.rejection_code
                       else _l("Decided: approved")))
    if request.answered_no_data_at:
        events.append((request.answered_no_data_at, _l("Answered: we hold no data about the subject")))
    for message in messages:
        if message.direction is MessageDirection.TO_SUBJECT:
            events.append((message.created_at, _l("Letter to the subject: %(subject)s",
                                                  subject=who.redact(message.subject_line or message.template))))
        elif message.direction is MessageDirection.FROM_SUBJECT:
            events.append((message.created_at, _l("The subject answered")))
    if request.closed_at:
        events.append((request.closed_at, _l("Closed (%(status)s)", status=label(request.status))))
    return [(staff_time(at, tz), text) for at, text in sorted(events, key=lambda e: e[0])]


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def retryable(task: SystemTask) -> bool:
    return task.state is TaskState.FAILED
