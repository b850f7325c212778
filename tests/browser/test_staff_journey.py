"""A new staff member's first day, in Chromium: created by the create-staff service with a one-time
password, enrols TOTP from the secret on the page, chooses a password, finds the most urgent case at
the top of the queue, extends it with a reason (the subject receives the notice with the new date)
and approves it."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import sqlalchemy as sa

from dsr.auth.accounts import create_staff
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.models import RequestStatus, Right, StaffRole, SubjectRequest
from tests.browser.conftest import assert_accessible

SUBJECT = "ingrid.subject@example.org"


def _arrange(portal) -> tuple[SubjectRequest, str]:
    controller = portal.app.extensions["dsr.controller"]
    with portal.app.app_context(), portal.session() as session:
        now = utcnow()
        cases = []
        for days_ago, email in ((5, "later@example.org"), (27, SUBJECT), (12, "middle@example.org")):
            case = SubjectRequest(
                right=Right.ACCESS,
                email=email,
                language="en",
                status=RequestStatus.OPEN,
                received_at=now - timedelta(days=days_ago),
                verified_at=now,
                identity_method="email_code",
            )
            session.add(case)
            session.flush()
            refresh_deadlines(case, controller)
            cases.append(case)
        session.add(
            SubjectRequest(
                right=Right.ERASURE,
                email="closed@example.org",
                status=RequestStatus.COMPLETED,
                received_at=now - timedelta(days=40),
                deadline_on=(now - timedelta(days=9)).date(),
            )
        )
        _user, password = create_staff(
            session,
            email="new.officer@fjordnett.example",
            role=StaffRole.OFFICER,
            display_name="Nora Officer",
            actor_type="system",
            actor_id="test",
        )
        session.commit()
        return cases[1], password


def test_a_new_officer_enrols_finds_the_urgent_case_extends_and_approves(portal, page, shots):
    case, one_time_password = _arrange(portal)

    page.goto(f"{portal.url}/staff/")
    assert "/staff/login" in page.url
    shots(page, "login")
    assert_accessible(page, "login")
    page.get_by_label("E-mail address").fill("new.officer@fjordnett.example")
    page.get_by_label("Password").fill(one_time_password)
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url("**/staff/login/set-up-two-step")
    assert page.locator("img.qr").get_attribute("src").startswith("data:image/svg+xml")
    shots(page, "enrol-totp")
    assert_accessible(page, "TOTP enrolment")
    secret = page.locator(".totp-secret").get_attribute("data-secret")
    assert page.locator(".totp-secret").inner_text().replace(" ", "") == secret
    page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and continue").click()

    page.wait_for_url("**/staff/login/new-password")
    shots(page, "choose-password")
    assert_accessible(page, "choose password")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Save and continue").click()
    assert "at least 12 characters" in page.locator(".error-summary").inner_text()
    page.get_by_label("New password", exact=True).fill("north sea herring lighthouse")
    page.get_by_label("New password again").fill("north sea herring lighthouse")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url("**/staff/")
    first_row = page.locator("table.queue tbody tr").first
    assert case.reference in first_row.inner_text()
    assert page.locator("table.queue tbody tr").count() == 3  # the closed case is not in the queue
    shots(page, "queue")
    assert_accessible(page, "queue")

    first_row.get_by_role("link", name=case.reference).click()
    page.wait_for_url(f"**/staff/cases/{case.id}")
    assert SUBJECT in page.locator("#details-heading + dl").inner_text()
    shots(page, "case")
    assert_accessible(page, "case page")

    page.get_by_role("link", name="Extend the deadline").click()
    page.wait_for_url(f"**/staff/cases/{case.id}/extend")
    assert_accessible(page, "extend form")
    longest = page.get_by_role("radio", name=re.compile("^Two further months"))
    assert longest.is_checked()  # the default; each choice's label gives the date it leads to
    label = page.locator(f"label[for='{longest.get_attribute('id')}']").inner_text()
    new_date = re.search(r"\d{4}-\d{2}-\d{2}", label).group(0)
    page.get_by_label("Reason for the extension (sent to the subject)").fill(
        "Your data is spread over many systems and we have received many requests this month."
    )
    shots(page, "extend")
    page.get_by_role("button", name="Extend and notify the subject").click()
    page.wait_for_url(f"**/staff/cases/{case.id}")
    assert f"the new deadline is {new_date}" in page.locator(".notice-success").inner_text()

    notice = portal.latest_mail_text(SUBJECT)
    assert new_date in notice and "many systems" in notice and "Datatilsynet" in notice

    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"**/staff/cases/{case.id}")
    assert "Approved" in page.locator(".notice-success").inner_text()
    assert "in progress" in page.locator("h1").inner_text()
    shots(page, "approved")
    assert_accessible(page, "case page after approval")

    with portal.session() as session:
        stored = session.get(SubjectRequest, case.id)
        assert stored.status is RequestStatus.IN_PROGRESS and stored.deadline_on.isoformat() == new_date
        assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 4
    assert page.csp_violations == []
