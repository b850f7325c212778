"""Deadline reminders: 7, 3 and 1 days before and daily when overdue, once per case, person and day."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
import time_machine

from dsr.cases.reminders import remind_deadlines, send_reminders
from dsr.models import Message, MessageDirection, RequestStatus, StaffRole
from dsr.queue.registry import periodic_jobs

TODAY = date(2026, 12, 1)


def _reminders(session):
    return session.scalars(
        sa.select(Message).where(Message.direction == MessageDirection.TO_STAFF).order_by(Message.id)
    ).all()


def test_reminders_go_at_7_3_1_days_and_daily_when_overdue_once_a_day(app, session, make_request, make_staff):
    controller = app.extensions["dsr.controller"]
    officer = make_staff(role=StaffRole.OFFICER)
    admin = make_staff(role=StaffRole.ADMIN)
    make_staff(role=StaffRole.VIEWER)
    make_staff(role=StaffRole.OFFICER, active=False)
    assigned = make_request(
        deadline_on=TODAY + timedelta(days=7),
        extension_notice_due_on=TODAY + timedelta(days=7),
        assignee_id=officer.id,
    )
    unassigned = make_request(
        deadline_on=TODAY + timedelta(days=3), extension_notice_due_on=TODAY + timedelta(days=3)
    )
    overdue = make_request(
        deadline_on=TODAY - timedelta(days=2),
        assignee_id=officer.id,
        extended_at=datetime(2026, 10, 1, tzinfo=timezone.utc),
    )
    quiet = make_request(deadline_on=TODAY + timedelta(days=5), assignee_id=officer.id)
    closed = make_request(deadline_on=TODAY + timedelta(days=1), status=RequestStatus.COMPLETED)

    assert send_reminders(session, controller, TODAY, (7, 3, 1)) == 4
    session.commit()
    sent = {(m.request_id, m.to_address) for m in _reminders(session)}
    assert sent == {
        (assigned.id, officer.email),
        (unassigned.id, officer.email),
        (unassigned.id, admin.email),
        (overdue.id, officer.email),
    }
    assert not {quiet.id, closed.id} & {m.request_id for m in _reminders(session)}
    overdue_mail = next(m for m in _reminders(session) if m.request_id == overdue.id)
    assert (
        overdue_mail.subject_line == f"OVERDUE: case {overdue.reference}"
        and "overdue by 2 days" in overdue_mail.body_text
    )
    week_mail = next(m for m in _reminders(session) if m.request_id == assigned.id)
    assert (
        "last day to extend" in week_mail.body_text and f"/staff/cases/{assigned.id}" in week_mail.body_text
    )

    assert send_reminders(session, controller, TODAY, (7, 3, 1)) == 0  # a second run the same day
    assert send_reminders(session, controller, TODAY + timedelta(days=1), (7, 3, 1)) == 1  # overdue again
    # Day 2: unassigned 1 day left (officer + admin), overdue, quiet 3 days left.
    assert send_reminders(session, controller, TODAY + timedelta(days=2), (7, 3, 1)) == 4
    # Day 4: assigned 3 days left, unassigned overdue (officer + admin), overdue, quiet 1 day left.
    assert send_reminders(session, controller, TODAY + timedelta(days=4), (7, 3, 1)) == 5


def test_the_extension_notice_date_is_a_deadline_of_its_own(app, session, make_request, make_staff):
    officer = make_staff()
    # Odd but possible after pauses were cut short: the notice date comes first.
    make_request(
        deadline_on=TODAY + timedelta(days=20),
        extension_notice_due_on=TODAY + timedelta(days=1),
        assignee_id=officer.id,
    )
    assert send_reminders(session, app.extensions["dsr.controller"], TODAY, (7, 3, 1)) == 1
    assert "last day to extend" in _reminders(session)[0].body_text


def test_the_reminder_job_is_periodic_and_uses_the_controller_date(app, session, make_request, make_staff):
    spec = next(s for s in periodic_jobs() if s.name == "remind_deadlines")
    assert spec.every <= 3600
    officer = make_staff()
    make_request(deadline_on=date(2026, 12, 8), assignee_id=officer.id)

    # 23:30 UTC on 30 Nov is already 1 December in Oslo: 7 days before 8 December.
    with time_machine.travel(datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc), tick=False):
        assert remind_deadlines.body(session) == 1
