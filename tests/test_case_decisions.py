"""Decisions on a case: every change through the transition table, each with its letter and audit entry."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import force_locale

from dsr import create_app
from dsr.audit.service import verify
from dsr.cases import conversation, decisions
from dsr.cases.states import IllegalTransition
from dsr.db import utcnow
from dsr.deadlines.rules import compute_deadlines
from dsr.deadlines.service import refresh_deadlines
from dsr.models import (
    AuditEvent,
    ClockPause,
    DeliveryStatus,
    Message,
    MessageDirection,
    OutboxJob,
    RequestStatus,
    Right,
    StaffRole,
    SystemTask,
    TaskAction,
    TaskState,
)
from dsr.notify.service import deliver_message
from dsr.tasks import registry
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import text_of
from tests.helpers.staff import enrolled_staff, login

OSLO = timezone(timedelta(hours=1))


@pytest.fixture
def officer(app, client, session):
    user, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    login(client, user, secret)
    return user


@pytest.fixture
def open_case(app, session, make_request):
    def make(**overrides):
        case = make_request(**{"status": RequestStatus.OPEN, **overrides})
        refresh_deadlines(case, app.extensions["dsr.controller"])
        session.commit()
        return case

    return make


def _letters(session, case, template):
    return session.scalars(
        sa.select(Message).where(Message.request_id == case.id, Message.template == template)
    ).all()


def _actions(session, case):
    return session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id).order_by(AuditEvent.seq)
    ).all()


def test_approve_without_automation_leaves_it_in_progress_until_completed_by_hand(
    client, session, officer, open_case
):
    # Since issue 12 a rectification is planned in the systems first; staff may still answer by hand.
    case = open_case(right=Right.RECTIFICATION)
    response = client.post(f"/staff/cases/{case.id}/approve", follow_redirects=True)
    assert "nothing changes until you approve the plans" in response.get_data(as_text=True)
    session.refresh(case)
    assert case.status is RequestStatus.IN_PROGRESS and case.decided_by_id == officer.id
    response = client.post(
        f"/staff/cases/{case.id}/complete", data={"outcome": "We corrected your address in the CRM."}
    )
    assert response.status_code == 302
    session.refresh(case)
    assert case.status is RequestStatus.COMPLETED and case.closed_at is not None
    (letter,) = _letters(session, case, "case_completed")
    assert "We corrected your address in the CRM." in letter.body_text and "Datatilsynet" in letter.body_text
    assert _actions(session, case) == ["actions.started", "case.approved", "case.completed"] and verify(session).ok


def test_an_illegal_transition_is_refused_with_a_message(client, session, officer, open_case):
    case = open_case(status=RequestStatus.COMPLETED)
    response = client.post(f"/staff/cases/{case.id}/approve", follow_redirects=True)
    assert "Cannot approve a request that is completed." in response.get_data(as_text=True)
    session.refresh(case)
    assert case.status is RequestStatus.COMPLETED and _actions(session, case) == []


@pytest.mark.parametrize(
    ("language", "court", "authority"),
    [
        ("en", "take the matter to court", "Datatilsynet\nPostboks 458 Sentrum, 0105 Oslo, Norway"),
        ("nb", "bringe saken inn for domstolene", "Datatilsynet\nPostboks 458 Sentrum, 0105 Oslo, Norge"),
    ],
)
def test_a_refusal_letter_names_the_reason_the_authority_and_the_courts(
    client, session, officer, open_case, language, court, authority
):
    case = open_case(language=language)
    response = client.post(
        f"/staff/cases/{case.id}/reject",
        data={
            "reason": "exemption",
            "law": "personopplysningsloven § 16 første ledd bokstav a",
            "text": "The documents concern national security.",
        },
    )
    assert response.status_code == 302
    session.refresh(case)
    assert (case.status, case.rejection_code) == (RequestStatus.REJECTED, "exemption")
    (letter,) = _letters(session, case, "case_rejected")
    assert "personopplysningsloven § 16 første ledd bokstav a" in letter.body_text
    assert authority in letter.body_text and court in letter.body_text
    assert "The documents concern national security." in letter.body_text
    assert letter.language == language


def test_refusal_needs_a_reason_text_and_for_an_exemption_the_law(client, session, officer, open_case):
    case = open_case()
    response = client.post(f"/staff/cases/{case.id}/reject", data={"reason": "exemption", "text": "Because."})
    assert response.status_code == 400 and "Name the law" in response.get_data(as_text=True)
    response = client.post(f"/staff/cases/{case.id}/reject", data={"reason": "other", "text": ""})
    assert response.status_code == 400 and "Write the explanation" in response.get_data(as_text=True)
    session.refresh(case)
    assert case.status is RequestStatus.OPEN and _letters(session, case, "case_rejected") == []


def test_extension_mails_the_new_date_and_is_allowed_once_within_the_first_month(
    smtp, app, client, session, officer, open_case
):
    case = open_case(email="kari@example.org")
    response = client.post(
        f"/staff/cases/{case.id}/extend", data={"reason": "Eleven systems hold your data."}
    )
    assert response.status_code == 302
    session.refresh(case)
    assert case.extended_at is not None and case.deadline_on == case.extended_due_on > case.due_on
    run_jobs(app)
    mail = text_of(smtp.wait_for("kari@example.org")[0])
    assert case.extended_due_on.isoformat() in mail and "Eleven systems hold your data." in mail
    response = client.post(f"/staff/cases/{case.id}/extend", data={"reason": "Again"}, follow_redirects=True)
    assert "already been extended" in response.get_data(as_text=True)
    assert len(_letters(session, case, "extension_notice")) == 1


def test_staff_can_extend_by_one_month_only_and_the_notice_carries_that_date(
    smtp, app, client, session, officer, open_case
):
    received_at = utcnow() - timedelta(days=2)  # within the first month whenever the suite runs
    case = open_case(email="ola@example.org", received_at=received_at)
    one, two = (compute_deadlines(received_at, extension_months=m).extended_due_on for m in (1, 2))
    assert one < two
    page = client.get(f"/staff/cases/{case.id}/extend").get_data(as_text=True)
    assert f"One further month: the new deadline is {one}" in page  # each choice shows the date it gives
    assert f"Two further months: the new deadline is {two}" in page

    response = client.post(f"/staff/cases/{case.id}/extend", data={"months": "1", "reason": "Backups to search."})
    assert response.status_code == 302
    session.refresh(case)
    assert case.extension_months == 1 and case.deadline_on == case.extended_due_on == one
    run_jobs(app)
    mail = text_of(smtp.wait_for("ola@example.org")[0])
    assert one.isoformat() in mail and two.isoformat() not in mail
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "case.extended")).one()
    assert event.details["months"] == 1


@pytest.mark.parametrize("months", ["3", "0", "two"])
def test_an_extension_longer_than_the_law_allows_is_refused_and_changes_nothing(
    client, session, officer, open_case, months
):
    case = open_case()
    response = client.post(f"/staff/cases/{case.id}/extend", data={"months": months, "reason": "Busy."})
    assert response.status_code == 400 and 'href="#months-0"' in response.get_data(as_text=True)  # error on the field
    session.refresh(case)
    assert case.extended_at is None and case.extension_months is None and case.deadline_on == case.due_on
    assert _letters(session, case, "extension_notice") == []


def test_no_extension_after_the_first_month(app, session, open_case, make_staff):
    staff = make_staff()
    case = open_case(received_at=datetime(2026, 8, 5, 10, tzinfo=OSLO))  # due Monday 7 Sep 2026
    controller = app.extensions["dsr.controller"]
    # A refusal speaks the staff member's language; outside a request that is the controller's default (nb here).
    with (time_machine.travel(datetime(2026, 9, 8, 9, tzinfo=OSLO), tick=False), force_locale("en"),
          pytest.raises(decisions.DecisionError, match="Too late to extend: the first month ended on 2026-09-07")):
        decisions.extend(session, case, actor=staff, reason="busy", controller=controller)
    with time_machine.travel(datetime(2026, 9, 7, 22, tzinfo=OSLO), tick=False):
        decisions.extend(session, case, actor=staff, reason="busy", controller=controller)
    assert case.deadline_on == date(2026, 11, 5)


def test_asking_about_identity_pauses_the_clock_until_the_subject_answers(
    app, session, open_case, make_staff
):
    staff = make_staff()
    controller = app.extensions["dsr.controller"]
    case = open_case(received_at=datetime(2026, 11, 2, 10, tzinfo=OSLO))  # due 2 Dec 2026
    with time_machine.travel(datetime(2026, 11, 5, 9, tzinfo=OSLO), tick=False):
        decisions.ask_subject(
            session,
            case,
            actor=staff,
            text="Which customer number do you have?",
            about_identity=True,
            controller=controller,
        )
        session.commit()
    assert case.status is RequestStatus.AWAITING_SUBJECT and case.pauses[0].ended_at is None
    with time_machine.travel(datetime(2026, 11, 8, 15, tzinfo=OSLO), tick=False):
        answer = Message(
            request_id=case.id,
            direction=MessageDirection.FROM_SUBJECT,
            channel="portal",
            body_text="It is 4411",
            status=DeliveryStatus.NOT_SENT,
            created_at=utcnow(),
        )
        session.add(answer)
        session.flush()
        assert conversation.subject_answered(session, case, answer) is True
        session.commit()
    assert case.status is RequestStatus.OPEN and case.pauses[0].ended_at is not None
    assert case.deadline_on == date(2026, 12, 7)  # 2 Dec + 3 days = Saturday 5 Dec -> Monday 7 Dec
    assert conversation.subject_answered(session, case, answer) is False  # a second call changes nothing
    assert _actions(session, case) == ["case.information_requested", "case.subject_answered"]


def test_a_question_that_is_not_about_identity_does_not_pause(app, session, open_case, make_staff):
    case = open_case()
    before = case.deadline_on
    decisions.ask_subject(
        session,
        case,
        actor=make_staff(),
        text="Which period?",
        about_identity=False,
        controller=app.extensions["dsr.controller"],
    )
    assert case.pauses == [] and case.deadline_on == before


def test_an_answer_after_approval_sends_the_case_back_to_work(app, session, open_case, make_staff):
    staff, controller = make_staff(), app.extensions["dsr.controller"]
    case = open_case()
    decisions.approve(session, case, actor=staff)
    decisions.ask_subject(
        session, case, actor=staff, text="Which account?", about_identity=False, controller=controller
    )
    conversation.record_reply(
        session, case, actor=staff, text="The old one", channel="phone", controller=controller
    )
    assert case.status is RequestStatus.IN_PROGRESS


def test_assign_and_notes(client, session, officer, open_case, make_staff):
    case = open_case()
    colleague = make_staff(role=StaffRole.OFFICER)
    viewer = make_staff(role=StaffRole.VIEWER)
    assert (
        client.post(f"/staff/cases/{case.id}/assign", data={"assignee": str(colleague.id)}).status_code == 302
    )
    assert client.post(f"/staff/cases/{case.id}/assign", data={"assignee": str(viewer.id)}).status_code == 400
    assert (
        client.post(f"/staff/cases/{case.id}/notes", data={"note-text": "Called the CRM team."}).status_code
        == 302
    )
    response = client.post(f"/staff/cases/{case.id}/notes", data={"note-text": ""})
    assert response.status_code == 400 and "Write something first." in response.get_data(as_text=True)
    session.refresh(case)
    assert case.assignee_id == colleague.id
    note = session.scalars(
        sa.select(Message).where(Message.direction == MessageDirection.INTERNAL_NOTE)
    ).one()
    assert note.status is DeliveryStatus.NOT_SENT and session.query(OutboxJob).count() == 0
    assert "Called the CRM team." in client.get(f"/staff/cases/{case.id}").get_data(as_text=True)


def test_a_failed_system_can_be_retried_from_the_case_page(client, session, officer, open_case, monkeypatch):
    monkeypatch.setitem(registry._KINDS, TaskAction.EXPORT, registry.TaskKind(TaskAction.EXPORT, deliver_message))
    case = open_case(status=RequestStatus.IN_PROGRESS)
    task = SystemTask(
        request_id=case.id,
        system_key="crm",
        action=TaskAction.EXPORT,
        state=TaskState.FAILED,
        last_error="ConnectorError: 500 from the CRM",
        records=12,
    )
    session.add(task)
    session.commit()
    page = client.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Retry this system" in page and "ConnectorError: 500 from the CRM" in page
    assert client.post(f"/staff/cases/{case.id}/tasks/{task.id}/retry").status_code == 302
    session.refresh(task)
    assert task.state is TaskState.PENDING
    assert "task.retried" in _actions(session, case)
    other = open_case()
    assert client.post(f"/staff/cases/{other.id}/tasks/{task.id}/retry").status_code == 404


def test_a_failed_letter_is_shown_prominently_and_can_be_sent_again(client, session, officer, open_case):
    case = open_case()
    letter = Message(
        request_id=case.id,
        direction=MessageDirection.TO_SUBJECT,
        channel="email",
        template="x",
        to_address=case.email,
        subject_line="About your request",
        body_text="Hello",
        status=DeliveryStatus.FAILED,
        last_error="550 5.1.1 mailbox unavailable",
    )
    session.add(letter)
    session.commit()
    page = client.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "could not be delivered" in page and "550 5.1.1 mailbox unavailable" in page
    assert client.post(f"/staff/cases/{case.id}/messages/{letter.id}/resend").status_code == 302
    session.refresh(letter)
    assert letter.status is DeliveryStatus.PENDING
    assert session.scalars(sa.select(OutboxJob.job_name)).all() == ["deliver_message"]


def test_staff_message_goes_out_in_the_cases_language(client, session, officer, open_case):
    case = open_case(language="nb")
    assert (
        client.post(f"/staff/cases/{case.id}/message", data={"text": "Vi ser på saken."}).status_code == 302
    )
    (letter,) = _letters(session, case, "staff_message")
    assert letter.subject_line.startswith("Om forespørselen din") and "Vi ser på saken." in letter.body_text


def test_close_as_withdrawn(client, session, officer, open_case):
    case = open_case()
    response = client.post(f"/staff/cases/{case.id}/withdraw", data={"text": "Phoned 10:15 to withdraw."})
    assert response.status_code == 302
    session.refresh(case)
    assert case.status is RequestStatus.WITHDRAWN and case.closed_at is not None
    assert len(_letters(session, case, "case_withdrawn")) == 1


def test_four_eyes_erasure_approval(app, session, open_case, make_staff):
    first, second = make_staff(), make_staff()
    case = open_case(right=Right.ERASURE)
    assert decisions.approve(session, case, actor=first, four_eyes=True) == "proposed"
    assert case.status is RequestStatus.OPEN
    with pytest.raises(decisions.FourEyesRequired):
        decisions.approve(session, case, actor=first, four_eyes=True)
    assert decisions.approve(session, case, actor=second, four_eyes=True) == "started"  # the plans are made
    assert case.status is RequestStatus.IN_PROGRESS
    session.commit()  # as the staff pages do: the audit trail is written with the commit
    assert _actions(session, case) == ["case.approval_proposed", "case.approval_refused", "actions.started",
                                       "case.approved"]


def test_four_eyes_refusal_over_http_is_403_and_audited(app_config, session, make_request):
    app_config["ERASURE_FOUR_EYES"] = True
    app = create_app(app_config)
    user, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    case = make_request(right=Right.ERASURE, status=RequestStatus.OPEN)
    client = app.test_client()
    login(client, user, secret)
    assert client.post(f"/staff/cases/{case.id}/approve").status_code == 302
    assert client.post(f"/staff/cases/{case.id}/approve").status_code == 403
    assert "case.approval_refused" in _actions(session, case)


def test_decisions_refuse_unknown_cases(client, officer):
    assert client.get("/staff/cases/999999").status_code == 404
    assert client.post("/staff/cases/999999/approve").status_code == 404


def test_illegal_ask_is_refused_by_the_table(app, session, open_case, make_staff):
    case = open_case(status=RequestStatus.READY_FOR_REVIEW)
    with pytest.raises(IllegalTransition):
        decisions.ask_subject(
            session,
            case,
            actor=make_staff(),
            text="?",
            about_identity=True,
            controller=app.extensions["dsr.controller"],
        )
    assert case.pauses == [] and session.query(ClockPause).count() == 0


def test_approving_an_erasure_needs_a_fresh_login(app, client, session, open_case):
    user, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    case = open_case(right=Right.ERASURE)
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        login(client, user, secret)
        traveller.shift(timedelta(minutes=15))
        response = client.post(f"/staff/cases/{case.id}/approve")
        assert response.status_code == 302 and "/staff/reauthenticate" in response.headers["Location"]
        session.refresh(case)
        assert case.status is RequestStatus.OPEN
        other = open_case(right=Right.ACCESS)
        assert client.post(f"/staff/cases/{other.id}/approve").headers["Location"].endswith(f"/cases/{other.id}")
