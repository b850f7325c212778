"""Art. 19: after a rectification, erasure or restriction, each recipient a system declares
(`[[systems.notify]]`) is told, by e-mail to its declared address, or by a person on our side (a notice
staff confirm on the case page). The outcome letter names the recipients to the subject."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases.labels import label
from dsr.connectors.registry import System
from dsr.db import utcnow
from dsr.models import MessageDirection, NoticeState, RecipientNotice, StaffUser, SubjectRequest, SystemTask
from dsr.notify.service import queue_email

NOTICE_LETTER = "recipient_notice"


class NoticeError(ValueError):
    """The notice cannot be confirmed as asked (the message says why)."""


def tell_recipients(session: orm.Session, request: SubjectRequest, task: SystemTask, system: System) -> None:
    """One notice per declared recipient of the system, once per (case, system, recipient, action)."""
    controller = current_app.extensions["dsr.controller"]
    for recipient in system.recipients:
        exists = session.scalar(sa.select(RecipientNotice.id).where(
            RecipientNotice.request_id == request.id, RecipientNotice.system_key == system.key,
            RecipientNotice.recipient == recipient.name, RecipientNotice.action == task.action.value))
        if exists:
            continue
        notice = RecipientNotice(request_id=request.id, system_key=system.key, recipient=recipient.name,
                                 email=recipient.email, action=task.action.value,
                                 state=NoticeState.SENT if recipient.email else NoticeState.WAITING_FOR_STAFF)
        session.add(notice)
        session.flush()
        if recipient.email:
            message = queue_email(
                session, to=recipient.email, template=NOTICE_LETTER, language=controller.default_language,
                direction=MessageDirection.TO_RECIPIENT, request_id=request.id,
                dedupe_key=f"notice:{notice.id}",
                context={"controller": controller, "recipient": recipient.name, "system": system.name,
                         "action": task.action.value, "reference": request.reference, "subject_email": request.email,
                         "updates": _updates(task)})
            notice.message_id = message.id
        record(session, "notice.created", actor_type="system", request_id=request.id, notice_id=notice.id,
               system=system.key, by_email=bool(recipient.email))
    session.flush()


def _updates(task: SystemTask) -> dict[str, str]:
    """For a rectification: the corrected fields and their new values (the recipient must correct them)."""
    values = (task.result or {}).get("values") or {}
    return {f"{collection}.{name}": str(value) for collection, fields in values.items()
            for name, value in fields.items()}


def pending_by_hand(session: orm.Session, request: SubjectRequest) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(RecipientNotice).where(
        RecipientNotice.request_id == request.id, RecipientNotice.state == NoticeState.WAITING_FOR_STAFF)) > 0


def confirm_notice(session: orm.Session, notice: RecipientNotice, staff: StaffUser) -> RecipientNotice:
    """Staff told the recipient by other means (the caller commits, then checks the case's end)."""
    if notice.state is not NoticeState.WAITING_FOR_STAFF:
        raise NoticeError(_("this notice is %(state)s, not waiting for staff", state=label(notice.state)))
    notice.state, notice.done_at, notice.done_by_id = NoticeState.DONE, utcnow(), staff.id
    record(session, "notice.confirmed", actor_type="staff", actor_id=staff.id, request_id=notice.request_id,
           notice_id=notice.id)
    session.flush()
    return notice
