"""Issue 15, Art. 12(5) and 15(3): the officer sees the subject's earlier requests as evidence, and may charge a
reasonable fee instead of refusing. The letter gives the amount, the reason and how to pay; the request and the
legal clock wait until staff record the payment (then it goes on as approved) or waive the fee."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from dsr.cases.reminders import send_reminders
from dsr.db import utcnow
from dsr.deadlines.rules import add_months, local_date, next_working_day
from dsr.models import (
    BundleKind,
    BundleStatus,
    CaseFee,
    ExportBundle,
    FeeState,
    PauseReason,
    RequestStatus,
    Right,
    StaffRole,
    SubjectRequest,
    SystemTask,
    TaskAction,
    VerificationChallenge,
)
from dsr.subject.service import post_reply
from tests.helpers.answers import audit_actions, file_and_open, letters, officer_client
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, sms_lines, text_of
from tests.helpers.people import KARI, OLA, file_request, use_directory

CHARGE = {"ground": "excessive", "amount": "250", "reason": "This is your third request for a copy this week.",
          "instructions": "Pay to account 1234.56.78901 and quote your reference."}


#: Kari again, under her work address: the CRM holds the same phone for both
KARI_AT_WORK = {"id": 9, "email": "kari@work.example", "phone": KARI["phone"], "name": "Kari Nordmann"}


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems",
                  {"crm": {"name": "Test CRM", "people": [KARI, OLA, KARI_AT_WORK]}})
    return app_config


@pytest.fixture
def third_request(app, client, session):
    """Ola's third access request in a few minutes, each proved with the e-mail code."""
    first = file_and_open(app, client, session, OLA["email"])
    second = file_and_open(app, client, session, OLA["email"])
    return first, second, file_and_open(app, client, session, OLA["email"])


def _case(session, case) -> SubjectRequest:
    session.expire_all()
    return session.get(SubjectRequest, case.id)


def test_a_third_access_request_shows_the_officer_the_two_earlier_ones_and_the_fee_waits_for_the_payment(
        app, client, session, third_request):
    first, second, case = third_request
    staff, officer = officer_client(app, session)
    page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Earlier requests from this person" in page and "Charge a fee" in page
    assert page.index(second.reference) < page.index(first.reference)  # newest first
    reject_page = staff.get(f"/staff/cases/{case.id}/reject").get_data(as_text=True)
    assert first.reference in reject_page and second.reference in reject_page
    due_before = _case(session, case).due_on

    assert staff.post(f"/staff/cases/{case.id}/fee", data=CHARGE).status_code == 302
    case = _case(session, case)
    assert case.status is RequestStatus.AWAITING_PAYMENT
    (fee,) = session.scalars(sa.select(CaseFee).where(CaseFee.request_id == case.id)).all()
    assert (fee.amount_ore, fee.state) == (25000, FeeState.AWAITING_PAYMENT)
    (pause,) = case.pauses
    assert pause.reason == PauseReason.FEE and pause.ended_at is None and pause.message_id == fee.letter_id
    (letter,) = letters(session, case, "fee_requested")
    for text in ("NOK 250.00", CHARGE["reason"], CHARGE["instructions"], "GDPR Article 12(5)",
                 "We will handle your request once we have received the payment", "Datatilsynet"):
        assert text in letter.body_text, text
    box = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "still paused (waiting for the fee to be paid)" in box and "Record the payment" in box
    subject_page = client.get(f"/case/{case.public_id}").get_data(as_text=True)
    assert "Waiting for your payment of the fee" in subject_page
    assert "the time limit is paused until we receive your payment" in subject_page

    # Ten days later the payment has come; the clock stood still meanwhile.
    with time_machine.travel(utcnow() + timedelta(days=10), tick=False):
        staff, officer = officer_client(app, session)  # a new day, a new login
        response = staff.post(f"/staff/cases/{case.id}/fee/{fee.id}/paid", data={"note": "Bank ref 778899"})
    assert response.status_code == 302
    case = _case(session, case)
    assert case.status is RequestStatus.IN_PROGRESS and case.decided_by_id == officer.id
    assert session.scalars(sa.select(SystemTask.action).where(SystemTask.request_id == case.id)).all() == [
        TaskAction.EXPORT]
    assert case.pauses[0].ended_at is not None
    received_on = local_date(case.received_at, app.extensions["dsr.controller"].timezone)
    assert case.due_on == next_working_day(add_months(received_on, 1) + timedelta(days=10)) > due_before
    assert session.get(CaseFee, fee.id).state is FeeState.PAID
    assert "Bank ref 778899" not in letters(session, case, "fee_paid")[0].body_text
    assert audit_actions(session, case)[-4:] == ["case.fee_charged", "case.fee_paid", "export.started", "case.approved"]
    run_jobs(app)
    subjects = [m["Subject"] for m in mails_to(app, OLA["email"])]
    assert f"A fee for your request {case.reference}" in subjects
    assert f"We have received your payment for request {case.reference}" in subjects



def test_waiving_the_fee_tells_the_subject_and_brings_the_request_back_for_a_decision(
        app, client, session, third_request):
    case = third_request[-1]
    staff, _ = officer_client(app, session)
    staff.post(f"/staff/cases/{case.id}/fee", data=CHARGE)
    fee = session.scalars(sa.select(CaseFee).where(CaseFee.request_id == case.id)).one()
    assert staff.post(f"/staff/cases/{case.id}/fee/{fee.id}/waive", data={"note": ""}).status_code == 400
    response = staff.post(f"/staff/cases/{case.id}/fee/{fee.id}/waive", data={"note": "The subject explained why."})
    assert response.status_code == 302
    case = _case(session, case)
    assert case.status is RequestStatus.OPEN and case.pauses[0].ended_at is not None
    assert session.get(CaseFee, fee.id).state is FeeState.WAIVED
    (letter,) = letters(session, case, "fee_waived")
    assert "we will handle your request free of charge" in letter.body_text
    assert "The subject explained why." not in letter.body_text
    assert audit_actions(session, case)[-1] == "case.fee_waived"


@pytest.mark.parametrize(("amount", "message"), [
    ("two hundred", "Write the amount in kroner, for example 250 or 250,50."),
    ("0", "A fee is more than 0 kroner."),
    ("-50", "Write the amount in kroner"),
    ("25000", "this portal accepts at most 10000 kroner"),
])
def test_a_wrong_amount_is_refused_with_a_message_and_changes_nothing(app, client, session, amount, message):
    case = file_and_open(app, client, session, OLA["email"])
    staff, _ = officer_client(app, session)
    response = staff.post(f"/staff/cases/{case.id}/fee", data={**CHARGE, "amount": amount})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    case = _case(session, case)
    assert case.status is RequestStatus.OPEN and case.pauses == []
    assert session.scalars(sa.select(CaseFee)).all() == [] and letters(session, case, "fee_requested") == []


def test_a_further_copy_can_carry_a_fee_once_the_subject_received_a_copy(app, client, session):
    first = file_and_open(app, client, session, OLA["email"])
    case = file_and_open(app, client, session, OLA["email"])
    staff, _ = officer_client(app, session)
    refused = staff.post(f"/staff/cases/{case.id}/fee", data={**CHARGE, "ground": "further_copy"})
    assert refused.status_code == 400 and "Not a valid choice" in refused.get_data(as_text=True)

    released_at = utcnow() - timedelta(minutes=1)  # the first request's bundle reached the subject
    session.add(ExportBundle(request_id=first.id, kind=BundleKind.ACCESS, status=BundleStatus.RELEASED,
                             released_at=released_at, expires_at=released_at + timedelta(days=7)))
    session.get(SubjectRequest, first.id).status = RequestStatus.COMPLETED
    session.commit()
    page = staff.get(f"/staff/cases/{case.id}/fee").get_data(as_text=True)
    assert "A further copy of data the subject already received (Art. 15(3))" in page
    assert staff.post(f"/staff/cases/{case.id}/fee", data={**CHARGE, "ground": "further_copy",
                                                           "amount": "150,50"}).status_code == 302
    (letter,) = letters(session, case, "fee_requested")
    assert "NOK 150.50" in letter.body_text and "GDPR Article 15(3)" in letter.body_text
    assert first.reference in letter.body_text


def test_a_message_from_the_subject_does_not_end_the_wait_for_the_fee(app, client, session, third_request):
    case = third_request[-1]
    staff, _ = officer_client(app, session)
    staff.post(f"/staff/cases/{case.id}/fee", data=CHARGE)
    with app.test_request_context():
        post_reply(session, _case(session, case), "Why should I pay?")
        session.commit()
    case = _case(session, case)
    assert case.status is RequestStatus.AWAITING_PAYMENT and case.pauses[0].ended_at is None


def test_an_unpaid_fee_can_end_in_a_refusal_and_the_clock_stops_waiting(app, client, session, third_request):
    case = third_request[-1]
    staff, _ = officer_client(app, session)
    staff.post(f"/staff/cases/{case.id}/fee", data=CHARGE)
    response = staff.post(f"/staff/cases/{case.id}/reject", data={
        "reason": "excessive", "text": "The fee was not paid within four weeks."})
    assert response.status_code == 302
    case = _case(session, case)
    assert case.status is RequestStatus.REJECTED and case.pauses[0].ended_at is not None


def test_no_deadline_reminder_while_the_request_waits_for_its_fee(app, session, make_request):
    staff, _ = officer_client(app, session, StaffRole.OFFICER)
    controller = app.extensions["dsr.controller"]
    today = local_date(utcnow(), controller.timezone)
    due = today - timedelta(days=1)  # stored before the pause: it looks overdue
    case = make_request(right=Right.ACCESS, status=RequestStatus.AWAITING_PAYMENT, due_on=due,
                        deadline_on=due, extension_notice_due_on=due)
    assert send_reminders(session, controller, today, (7, 3, 1)) == 0
    case.status = RequestStatus.OPEN
    session.commit()
    assert send_reminders(session, controller, today, (7, 3, 1)) == 1


def _open_with_sms(app, client, session, email: str) -> SubjectRequest:
    """File an access request and give back the e-mail code and the SMS code sent to the phone on file."""
    assert file_request(client, "access", email=email).status_code == 303
    run_jobs(app)
    case = session.scalars(sa.select(SubjectRequest).where(SubjectRequest.email == email)).one()
    client.post(f"/verify/{case.public_id}", data={"code": code_in(text_of(mails_to(app, email)[-1]))})
    run_jobs(app)
    client.post(f"/verify/{case.public_id}/phone", data={"code": code_in(sms_lines(app)[-1])})
    return _case(session, case)


def test_an_earlier_request_from_another_address_counts_when_the_same_phone_proved_both(app, session):
    home = _open_with_sms(app, app.test_client(), session, KARI["email"])
    work = _open_with_sms(app, app.test_client(), session, KARI_AT_WORK["email"])
    assert work.status is RequestStatus.OPEN and work.identity_method == "email_code+sms_code"
    staff, _ = officer_client(app, session)
    row = re.search(rf"{home.reference}</a></td>.*?</tr>", staff.get(f"/staff/cases/{work.id}").get_data(as_text=True))
    assert row and "<td>phone</td>" in row.group(0)
    # A day later the SMS codes' records are gone (the portal's retention); the number the lookup found stays.
    session.execute(sa.delete(VerificationChallenge))
    session.commit()
    assert home.reference in staff.get(f"/staff/cases/{work.id}").get_data(as_text=True)
    assert OLA["email"] not in staff.get(f"/staff/cases/{work.id}").get_data(as_text=True)
