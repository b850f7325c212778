"""Viewers search the queue by case reference only (issue 13, finding 11): a viewer sees identifiers masked,
so an exact e-mail search must not tell them whether that person has a case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dsr.cases.queue import QueueFilter, queue_page
from dsr.db import utcnow
from dsr.deadlines.rules import local_date
from dsr.models import RequestStatus, StaffRole
from tests.helpers.staff import enrolled_staff, login


@pytest.fixture
def case(app, make_request):
    today = local_date(utcnow(), app.extensions["dsr.controller"].timezone)
    return make_request(email="kari.nordmann@example.org", status=RequestStatus.OPEN,
                        deadline_on=today + timedelta(days=9), due_on=today + timedelta(days=9))


def _queue_as(app, client, session, role: StaffRole, query: str) -> str:
    user, secret = enrolled_staff(session, app, role)
    login(client, user, secret)
    return _search(client, query)


def _search(client, query: str) -> str:
    response = client.get("/staff/", query_string={"q": query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_viewer_searching_an_e_mail_learns_nothing(app, client, session, case):
    page = _queue_as(app, client, session, StaffRole.VIEWER, case.email)
    assert case.reference not in page
    assert "Viewers search by case reference only" in page
    unknown = _search(client, "nobody@example.org")
    assert page.replace(case.email, "Q") == unknown.replace("nobody@example.org", "Q")  # the same page either way


def test_a_viewer_still_finds_a_case_by_its_reference(app, client, session, case):
    page = _queue_as(app, client, session, StaffRole.VIEWER, case.reference.lower().replace("-", " "))
    assert case.reference in page and case.email not in page  # found, identifiers masked


def test_officers_still_search_by_e_mail(app, client, session, case):
    assert case.reference in _queue_as(app, client, session, StaffRole.OFFICER, case.email)


def test_the_queue_service_refuses_e_mail_search_when_told_to(session, app, case):
    today = local_date(utcnow(), app.extensions["dsr.controller"].timezone)
    by_email = QueueFilter(search=case.email, reference_only=True)
    by_reference = QueueFilter(search=case.reference, reference_only=True)
    assert queue_page(session, by_email, today=today).rows == []
    assert [r.id for r in queue_page(session, by_reference, today=today).rows] == [case.id]
