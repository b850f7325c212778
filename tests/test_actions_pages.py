"""The actions on the staff case page, through HTTP on the demo systems with a real RQ worker: the plan per
system with what a hold keeps, approval (a recent login for an erasure; a second officer with four eyes),
the corrections of a rectification, what was done by hand, the check afterwards."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsr.deadlines.service import refresh_deadlines
from dsr.models import (
    AuditEvent,
    RecipientNotice,
    RequestStatus,
    Right,
    StaffRole,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from tests.helpers.export import KARI, approve
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import mails_to, text_of
from tests.helpers.staff import enrolled_staff, login

pytestmark = pytest.mark.slow


def _client(app, session, email: str | None = None):
    user, secret = enrolled_staff(session, app, StaffRole.OFFICER, **({"email": email} if email else {}))
    client = app.test_client()
    login(client, user, secret)
    client.user = user
    return client


def _case(app, session, client, right: Right, details: dict | None = None) -> SubjectRequest:
    case = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=right, language="en", details=details or {},
                          identity_method="email_code+sms_code")
    session.add(case)
    session.flush()
    refresh_deadlines(case, app.extensions["dsr.controller"])
    session.commit()
    assert client.post(f"/staff/cases/{case.id}/approve").status_code == 302
    run_jobs(app)
    return case


def _page(client, case) -> str:
    response = client.get(f"/staff/cases/{case.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _erase_states(session, case) -> dict[str, TaskState]:
    session.expire_all()
    return {t.system_key: t.state for t in session.scalars(sa.select(SystemTask).where(
        SystemTask.request_id == case.id, SystemTask.action == TaskAction.ERASE))}


def test_the_case_page_shows_each_plan_and_the_officer_approves_it(demo_app, demo_session, chat):
    officer = _client(demo_app, demo_session)
    case = _case(demo_app, demo_session, officer, Right.ERASURE)
    html = _page(officer, case)
    assert "Actions in the connected systems" in html and "Plan waits for approval" in html
    assert "delete 1 in contacts" in html and "delete 2 in activities" in html
    assert "Bokføringsloven § 13" in html and "until 2026-12-31" in html  # what the hold keeps, and until when
    assert "nothing has been changed yet" in html and "Review and approve the plans" in html

    page = officer.get(f"/staff/cases/{case.id}/actions/approve")
    assert page.status_code == 200 and "Approve and carry out" in page.get_data(as_text=True)
    response = officer.post(f"/staff/cases/{case.id}/actions/approve",
                            data={"note": "We also deleted your account in the app."})
    assert response.status_code == 302
    run_jobs(demo_app)
    states = _erase_states(demo_session, case)
    assert states.pop("mailbox") is TaskState.WAITING_FOR_STAFF
    assert set(states.values()) == {TaskState.DONE}
    html = _page(officer, case)
    assert "Done and checked" in html and "tag-ok\">OK" in html
    assert demo_session.get(SubjectRequest, case.id).outcome_note == "We also deleted your account in the app."

    mailbox = demo_session.scalar(sa.select(SystemTask).where(SystemTask.request_id == case.id,
                                                              SystemTask.system_key == "mailbox"))
    page = officer.get(f"/staff/cases/{case.id}/actions/tasks/{mailbox.id}/done")
    assert "Find everything about the subject" in page.get_data(as_text=True)
    assert officer.post(f"/staff/cases/{case.id}/actions/tasks/{mailbox.id}/done", data={"note": ""}).status_code == 400
    officer.post(f"/staff/cases/{case.id}/actions/tasks/{mailbox.id}/done", data={"note": "Nothing found"})
    assert "They have been told" in _page(officer, case)  # the accountant: no address, staff tell them
    actions = demo_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)).all()
    assert {"plan.approved", "actions.done_by_hand", "notice.created"} <= set(actions)


def test_approving_an_erasures_plans_needs_a_recent_login(app_config, demo_app, demo_session, chat):
    officer = _client(demo_app, demo_session)
    case = _case(demo_app, demo_session, officer, Right.ERASURE)
    demo_app.config["STAFF_REAUTH_SECONDS"] = 0  # the login is no longer fresh
    for method in ("get", "post"):
        response = getattr(officer, method)(f"/staff/cases/{case.id}/actions/approve")
        assert response.status_code == 302 and "/staff/reauthenticate" in response.headers["Location"]
    assert set(_erase_states(demo_session, case).values()) == {TaskState.AWAITING_APPROVAL,
                                                               TaskState.WAITING_FOR_STAFF}


def test_with_four_eyes_a_second_officer_approves_an_erasures_plans(demo_app, demo_session, chat):
    demo_app.config["ERASURE_FOUR_EYES"] = True
    first = _client(demo_app, demo_session)
    case = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ERASURE, language="en")
    demo_session.add(case)
    demo_session.commit()
    approve(demo_session, case)  # the case approval's own four eyes are tested in test_case_decisions
    run_jobs(demo_app)
    response = first.post(f"/staff/cases/{case.id}/actions/approve", follow_redirects=True)
    assert "needs a second officer" in response.get_data(as_text=True)
    again = first.post(f"/staff/cases/{case.id}/actions/approve")
    assert again.status_code == 400 and "someone else must approve" in again.get_data(as_text=True)
    assert TaskState.DONE not in _erase_states(demo_session, case).values()
    second = _client(demo_app, demo_session, email="second@fjordnett.example")
    assert second.post(f"/staff/cases/{case.id}/actions/approve").status_code == 302
    run_jobs(demo_app)
    assert TaskState.DONE in _erase_states(demo_session, case).values()


def test_the_approve_page_proposes_the_subjects_phone_number_for_the_phone_fields(demo_app, demo_session, chat):
    officer = _client(demo_app, demo_session)
    case = _case(demo_app, demo_session, officer, Right.RECTIFICATION,
                 {"wrong": "Old number", "correct": "+4791234567"})
    html = officer.get(f"/staff/cases/{case.id}/actions/approve").get_data(as_text=True)
    accounting = demo_session.scalar(sa.select(SystemTask).where(
        SystemTask.request_id == case.id, SystemTask.action == TaskAction.RECTIFY,
        SystemTask.system_key == "accounting"))
    field = f'name="value-{accounting.id}-customers-phone" value="+4791234567"'
    assert field in html and f'name="value-{accounting.id}-customers-name" value=""' in html
    bad = officer.post(f"/staff/cases/{case.id}/actions/approve",
                       data={f"value-{accounting.id}-customers-credit_rating": "A"})
    assert bad.status_code == 400 and "may not be corrected" in bad.get_data(as_text=True)
    assert officer.post(f"/staff/cases/{case.id}/actions/approve",
                        data={f"value-{accounting.id}-customers-phone": "+4791234567"}).status_code == 302
    run_jobs(demo_app)
    demo_session.expire_all()
    assert demo_session.get(SystemTask, accounting.id).state is TaskState.DONE


def test_incomplete_data_is_completed_with_the_subjects_statement_quoted_in_the_outcome_letter(
        demo_app, demo_session, chat):
    officer = _client(demo_app, demo_session)
    case = _case(demo_app, demo_session, officer, Right.RECTIFICATION,
                 {"wrong": "You have no record that I opted out of phone calls",
                  "correct": "Add that I do not want marketing calls"})
    page = officer.get(f"/staff/cases/{case.id}/actions/approve").get_data(as_text=True)
    assert "Supplementary statement" in page
    statement = "I told your sales team on 3 March 2026 that I do not want marketing calls."
    too_long = officer.post(f"/staff/cases/{case.id}/actions/approve", data={"statement": "x" * 2001})
    assert too_long.status_code == 400
    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).supplementary_statement is None  # nothing changed
    assert officer.post(f"/staff/cases/{case.id}/actions/approve", data={"statement": statement}).status_code == 302
    run_jobs(demo_app)
    assert f"“{statement}”" in _page(officer, case)

    # What no system does by itself (the newsletter list, the mailbox) and the accountant, who has no
    # address, are done by staff; then the case completes with its letter.
    for task in demo_session.scalars(sa.select(SystemTask).where(SystemTask.request_id == case.id,
                                                                 SystemTask.state == TaskState.WAITING_FOR_STAFF)):
        assert officer.post(f"/staff/cases/{case.id}/actions/tasks/{task.id}/done",
                            data={"note": "Checked: nothing to correct"}).status_code == 302
    for notice in demo_session.scalars(sa.select(RecipientNotice).where(RecipientNotice.request_id == case.id,
                                                                        RecipientNotice.email.is_(None))):
        assert officer.post(f"/staff/cases/{case.id}/actions/notices/{notice.id}/done").status_code == 302
    run_jobs(demo_app)
    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).status is RequestStatus.COMPLETED
    letter = [text_of(m) for m in mails_to(demo_app, KARI) if "is done" in m["Subject"]]
    assert len(letter) == 1 and statement in letter[0] and "Article 16" in letter[0]
    audit = demo_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)).all()
    assert "rectification.statement_recorded" in audit
