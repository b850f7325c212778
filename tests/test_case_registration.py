"""Requests that came by e-mail, post or phone: registered with their real receipt time; identity
recorded by staff opens the case through the same open_case as the portal."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from dsr import create_app
from dsr.db import get_db
from dsr.intake.registration import RegistrationError, receipt_instant
from dsr.models import AuditEvent, Channel, RequestStatus, Right, StaffRole, SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, sms_lines, text_of
from tests.helpers.people import KARI, use_directory
from tests.helpers.staff import enrolled_staff, login


@pytest.fixture
def officer_client(app, client, session):
    """Logged in on 10 March 2026, 10:00 Oslo time (the clock stands still during the test)."""
    user, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    with time_machine.travel(datetime(2026, 3, 10, 9, tzinfo=timezone.utc), tick=False):
        login(client, user, secret)
        yield client


FORM = {
    "right": "erasure",
    "channel": "post",
    "received_date": "2026-03-04",
    "received_time": "23:59",
    "email": "Kari@Example.org",
    "language": "nb",
    "details": "Slett kontoen min.",
    "identity": "not_yet",
}


def test_a_letter_is_registered_with_its_oslo_receipt_time(officer_client, session):
    response = officer_client.post("/staff/register", data=FORM)
    assert response.status_code == 302
    case = session.scalars(sa.select(SubjectRequest)).one()
    assert (case.channel, case.right, case.language) == (Channel.POST, Right.ERASURE, "nb")
    assert case.received_at == datetime(2026, 3, 4, 22, 59, tzinfo=timezone.utc)  # 23:59 CET
    assert case.status is RequestStatus.AWAITING_VERIFICATION
    assert case.due_on == date(2026, 4, 7)  # 4 Apr 2026 Saturday, Easter Monday 6th
    assert case.details == {"request": "Slett kontoen min."}
    assert session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)).all() == [
        "request.registered"
    ]

    response = officer_client.post(f"/staff/cases/{case.id}/identity", data={"how": "postal_address_on_file"})
    assert response.status_code == 302
    session.refresh(case)
    assert case.status is RequestStatus.OPEN and case.identity_method == "staff:postal_address_on_file"
    assert session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id).order_by(AuditEvent.seq)
    ).all() == ["request.registered", "case.opened"]


def test_identity_recorded_at_registration_opens_the_case_at_once(officer_client, session):
    officer_client.post("/staff/register", data={**FORM, "identity": "phone_callback", "channel": "phone"})
    case = session.scalars(sa.select(SubjectRequest)).one()
    assert case.status is RequestStatus.OPEN and case.identity_method == "staff:phone_callback"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"received_date": "2026-13-40"}, "Not a valid date value"),
        ({"received_time": "25:00"}, "Not a valid time value"),
        ({"received_date": "2026-03-29", "received_time": "02:30"}, "did not exist on 2026-03-29"),
        ({"received_date": "2026-03-11"}, "cannot be in the future"),
        ({"email": "not an address"}, "Enter a valid e-mail address"),
        ({"channel": "web"}, "Not a valid choice"),
        ({"identity": "trust_me"}, "Not a valid choice"),
    ],
)
def test_bad_registration_input_is_explained_and_changes_nothing(officer_client, session, changes, message):
    response = officer_client.post("/staff/register", data={**FORM, **changes})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0


def test_receipt_instant_takes_the_first_of_a_repeated_hour():
    instant = receipt_instant(date(2026, 10, 25), time(2, 30), "Europe/Oslo")
    assert instant.utcoffset().total_seconds() == 7200  # CEST, the first 02:30
    with pytest.raises(RegistrationError) as error:
        receipt_instant(date(2026, 3, 29), time(2, 30), "Europe/Oslo")
    assert error.value.field == "received_time"


def test_a_registered_request_can_be_proven_with_the_web_forms_codes(app_config, tmp_path):
    """Staff register a letter and choose "send the codes": the subject proves the e-mail and the phone on
    file exactly as on the web, and the clock still runs from the letter's arrival."""


    use_directory(app_config, tmp_path)
    app = create_app(app_config)
    arrived = (datetime.now(timezone.utc) - timedelta(days=2)).astimezone()
    with app.app_context():
        session = get_db(app).session()
        user, secret = enrolled_staff(session, app, StaffRole.OFFICER)
        staff = app.test_client()
        login(staff, user, secret)
        response = staff.post("/staff/register", data={
            **FORM, "email": KARI["email"], "identity": "send_codes",
            "received_date": arrived.date().isoformat(), "received_time": "09:15"})
        assert response.status_code == 302
        case = session.scalars(sa.select(SubjectRequest)).one()
        assert case.status is RequestStatus.AWAITING_VERIFICATION and case.verification_expires_at is not None
        run_jobs(app)  # the acknowledgement with the code, and the lookup that finds the phone on file

        subject = app.test_client()
        (letter,) = mails_to(app, KARI["email"])
        assert case.reference in letter["Subject"]
        assert subject.post(f"/verify/{case.public_id}", data={"code": code_in(text_of(letter))}).status_code == 303
        run_jobs(app)  # the SMS to the number on file (the letter gave none)
        (sms,) = [line for line in sms_lines(app) if KARI["phone"] in line]
        assert subject.post(f"/verify/{case.public_id}/phone", data={"code": code_in(sms)}).status_code == 303
        session.expire_all()
        case = session.get(SubjectRequest, case.id)
        assert case.status is RequestStatus.OPEN and case.identity_method == "email_code+sms_code"
        tz = app.extensions["dsr.controller"].timezone
        assert case.received_at == receipt_instant(arrived.date(), time(9, 15), tz)  # not the verification time
        session.close()
    get_db(app).dispose()
