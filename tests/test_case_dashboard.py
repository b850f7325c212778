"""The dashboard: open, due this week, overdue, median days to close per right (last 12 months)."""

from __future__ import annotations

from datetime import timedelta

from dsr.cases.dashboard import dashboard
from dsr.db import utcnow
from dsr.deadlines.rules import local_date
from dsr.models import RequestStatus, Right, StaffRole
from tests.helpers.staff import enrolled_staff, login


def test_figures_and_chart(app, client, session, make_request):
    today = local_date(utcnow(), app.extensions["dsr.controller"].timezone)
    now = utcnow()
    make_request(deadline_on=today + timedelta(days=2))
    make_request(deadline_on=today - timedelta(days=1), status=RequestStatus.IN_PROGRESS)
    make_request(deadline_on=today + timedelta(days=30))
    for days in (10, 20, 40):
        make_request(
            right=Right.ERASURE,
            status=RequestStatus.COMPLETED,
            received_at=now - timedelta(days=days + 5),
            closed_at=now - timedelta(days=5),
        )
    make_request(
        right=Right.ACCESS,
        status=RequestStatus.COMPLETED,
        received_at=now - timedelta(days=500),
        closed_at=now - timedelta(days=400),
    )  # older than 12 months: not counted
    figures = dashboard(session, today)
    assert (figures.open, figures.due_this_week, figures.overdue) == (3, 1, 1)
    erasure = next(f for f in figures.per_right if f.right is Right.ERASURE)
    access = next(f for f in figures.per_right if f.right is Right.ACCESS)
    assert (erasure.closed, erasure.median_days) == (3, 20.0) and (access.closed, access.median_days) == (
        0,
        None,
    )

    user, secret = enrolled_staff(session, app, StaffRole.VIEWER)
    login(client, user, secret)
    page = client.get("/staff/dashboard").get_data(as_text=True)
    # Each figure once: the bar beside it repeats no number (issue 15: the chart and a table said it twice).
    assert "<svg" in page and 'aria-hidden="true"' in page and "style=" not in page
    assert page.count("20.0 days") == 1 and "(3 closed)" not in page
