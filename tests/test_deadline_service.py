"""Stored deadline fields follow the clock: receipt, pauses, extension."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.models import ClockPause

OSLO = timezone(timedelta(hours=1))


def test_refresh_stores_the_binding_date_and_follows_pauses_and_extension(app, make_request, session):
    controller = app.extensions["dsr.controller"]
    request = make_request(received_at=datetime(2026, 11, 2, 10, tzinfo=OSLO))
    refresh_deadlines(request, controller)
    assert (request.due_on, request.deadline_on) == (date(2026, 12, 2), date(2026, 12, 2))
    assert request.extended_due_on == date(2027, 2, 2)

    request.pauses.append(ClockPause(started_at=datetime(2026, 11, 5, 9, tzinfo=OSLO),
                                     ended_at=datetime(2026, 11, 8, 9, tzinfo=OSLO)))
    refresh_deadlines(request, controller)
    assert request.deadline_on == date(2026, 12, 7)

    request.extended_at = utcnow()
    refresh_deadlines(request, controller)
    assert request.deadline_on == request.extended_due_on == date(2027, 2, 5)
    session.commit()
