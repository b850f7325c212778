"""Deadline reminders to staff: 7, 3 and 1 days before a case is due (REMINDER_DAYS_BEFORE) and
every day once it is overdue, to the assignee or, when nobody is assigned, to every active officer
and admin. The last day to send an extension notice is a deadline of its own while the case is
not extended. At most one reminder per case, person and controller-local day: Message.dedupe_key
makes a second run (a duplicate job, a second worker) send nothing twice."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.cases.conversation import case_url, responsible_staff
from dsr.cases.states import OPEN_STATUSES
from dsr.controller import Controller
from dsr.db import utcnow
from dsr.deadlines.rules import days_left, local_date
from dsr.models import Message, MessageDirection, RequestStatus, SubjectRequest
from dsr.notify.service import queue_email
from dsr.queue import QUEUE_DEFAULT, job


def _due_dates(request: SubjectRequest) -> list[date]:
    dates = [request.deadline_on]
    if request.extended_at is None and request.extension_notice_due_on:
        dates.append(request.extension_notice_due_on)
    return [d for d in dates if d is not None]


def reminder_due(request: SubjectRequest, today: date, days_before: tuple[int, ...]) -> date | None:
    """The deadline to remind about today, if any (overdue first, then the nearest)."""
    for deadline in sorted(set(_due_dates(request))):
        left = days_left(deadline, today)
        if left < 0 or left in days_before:
            return deadline
    return None


def send_reminders(
    session: orm.Session, controller: Controller, today: date, days_before: tuple[int, ...]
) -> int:
    """Queue today's reminders; returns how many were queued (0 on a second run the same day)."""
    horizon = today + timedelta(days=max(days_before, default=0))
    candidates = session.scalars(
        sa.select(SubjectRequest)
        .where(
            SubjectRequest.status.in_(OPEN_STATUSES),
            # The clock waits with the request for a fee: nothing is due from staff until it is paid.
            SubjectRequest.status != RequestStatus.AWAITING_PAYMENT,
            sa.or_(SubjectRequest.deadline_on <= horizon, SubjectRequest.extension_notice_due_on <= horizon),
        )
        .order_by(SubjectRequest.deadline_on, SubjectRequest.id)
    ).all()
    queued = 0
    for request in candidates:
        deadline = reminder_due(request, today, days_before)
        if deadline is None:
            continue
        recipients = responsible_staff(session, request)
        for staff in recipients:
            key = f"reminder:{request.id}:{staff.id}:{today.isoformat()}"
            if session.scalar(sa.select(Message.id).where(Message.dedupe_key == key)) is not None:
                continue
            # Two runs racing on one key: the unique dedupe_key fails the later transaction, and its job's
            # retry finds the reminder already there. (No savepoint here: the outbox relay publishes on
            # every commit event, a savepoint's release included.)
            _queue_reminder(session, request, staff, deadline, today, key)
            queued += 1
    session.flush()
    return queued


def _queue_reminder(session, request: SubjectRequest, staff, deadline: date, today: date, key: str) -> None:
    queue_email(
        session,
        to=staff.email,
        template="staff_deadline_reminder",
        language="en",
        direction=MessageDirection.TO_STAFF,
        request_id=request.id,
        dedupe_key=key,
        context={
            "reference": request.reference,
            "staff_name": staff.display_name,
            "right": request.right.value.replace("_", " "),
            "status": request.status.value.replace("_", " "),
            "days_left": days_left(deadline, today),
            "deadline_on": deadline,
            "extension_possible": request.extended_at is None and deadline == request.extension_notice_due_on,
            "extension_notice_due_on": request.extension_notice_due_on,
            "assigned": request.assignee_id == staff.id,
            "case_url": case_url(request),
        },
    )


@job(QUEUE_DEFAULT, every=3600)
def remind_deadlines(session: orm.Session) -> int:
    """Hourly: at most one reminder per case, person and day (the dedupe key makes extra runs harmless)."""
    controller = current_app.extensions["dsr.controller"]
    days = tuple(int(d) for d in current_app.config["REMINDER_DAYS_BEFORE"])
    return send_reminders(session, controller, local_date(utcnow(), controller.timezone), days)
