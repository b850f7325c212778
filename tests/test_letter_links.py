"""Bearer links and codes never rest in clear in stored letters, and no staff role sees them (issue 13,
finding 2). A letter is stored with placeholders; the send job puts the real case link, verification link
and code into the mail it sends (the code sealed until then, then dropped; the links made at sending). Staff
pages and the subject's request history show what each placeholder stands for, never its value. "Send again"
of a failed letter makes fresh links; a letter whose one-time code was dropped says why it cannot be resent."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dsr import links
from dsr.export.bundle_parts import request_history
from dsr.models import DeliveryStatus, Message, MessageDirection, OutboxJob, StaffRole, SubjectRequest
from dsr.notify.letters import send_subject_letter
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, link_in, text_of
from tests.helpers.people import OLA, file_request, use_directory
from tests.helpers.staff import enrolled_staff, login

BEARER = re.compile(r"/(?:case/open|verify/link)/[A-Za-z0-9_.\-]{8,}")


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def _open_case(app, client, session, smtp) -> tuple[SubjectRequest, list[str]]:
    """Ola files an access request and proves the e-mail with the code; (the case, codes mailed to Ola)."""
    assert file_request(client, "access", email=OLA["email"]).status_code == 303
    run_jobs(app)
    session.expire_all()
    request = session.scalars(sa.select(SubjectRequest)).one()
    code = code_in(text_of(smtp.wait_for(OLA["email"])[-1]))
    assert client.post(f"/verify/{request.public_id}", data={"code": code}).status_code == 303
    run_jobs(app)
    smtp.wait_for(OLA["email"], count=2)
    session.expire_all()
    return session.get(SubjectRequest, request.id), [code]


def _letters(session, case) -> dict[str, Message]:
    session.expire_all()
    return {m.template: m for m in session.scalars(sa.select(Message).where(Message.request_id == case.id))}


def _staff_client(app, session, role: StaffRole):
    user, secret = enrolled_staff(session, app, role)
    browser = app.test_client()
    login(browser, user, secret)
    return browser


def test_letters_are_stored_without_links_and_mailed_with_working_ones(smtp, app, client, session):
    case, _codes = _open_case(app, client, session, smtp)
    letters = _letters(session, case)
    assert {"request_received", "request_verified"} <= set(letters)
    for message in letters.values():
        for body in (message.body_text, message.body_html or ""):
            assert not BEARER.search(body), (message.template, body)
    received, verified = smtp.to(OLA["email"])
    assert link_in(text_of(received), "verify")
    case_link = link_in(text_of(verified), "case")
    assert case_link in verified.get_body(preferencelist=("html",)).get_content()
    stranger = app.test_client()
    assert stranger.post(case_link).headers["Location"] == f"/case/{case.public_id}"  # the mailed link works


def test_the_request_history_in_the_bundle_holds_no_link(smtp, app, client, session):
    case, _codes = _open_case(app, client, session, smtp)
    with app.app_context():
        history = request_history(session, case)
    texts = [message["text"] for item in history for message in item["messages"]]
    assert texts and not any(BEARER.search(text) for text in texts)


@pytest.mark.parametrize("role", [StaffRole.VIEWER, StaffRole.OFFICER, StaffRole.ADMIN])
def test_no_staff_role_sees_a_subjects_link_or_code(smtp, app, client, session, role):
    case, codes = _open_case(app, client, session, smtp)
    with app.test_request_context():
        old_link = links.external_url("subject.open_link", token=links.case_token(case.public_id, 1))
    # A letter stored before placeholders: its link is not shown either.
    session.add(Message(request_id=case.id, direction=MessageDirection.TO_SUBJECT, channel="email",
                        template="request_verified", language="en", to_address=case.email,
                        subject_line="An older letter", body_text=f"Follow your request: {old_link}\n"))
    session.commit()
    page = _staff_client(app, session, role).get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "An older letter" in page
    assert not BEARER.search(page), BEARER.search(page)
    for code in codes:
        assert code not in page
    assert "[link to the request&#39;s page]" in page or "[link to the request's page]" in page


def test_send_again_of_a_failed_letter_mails_a_fresh_working_link(smtp, app, client, session):
    case, _codes = _open_case(app, client, session, smtp)
    smtp.refuse.add(OLA["email"])
    with app.app_context():
        send_subject_letter(session, case, "request_withdrawn", dedupe_key="test-letter")
        session.commit()
    run_jobs(app)
    failed = _letters(session, case)["request_withdrawn"]
    assert failed.status is DeliveryStatus.FAILED
    smtp.refuse.clear()
    officer = _staff_client(app, session, StaffRole.OFFICER)
    assert officer.post(f"/staff/cases/{case.id}/messages/{failed.id}/resend").status_code == 302
    run_jobs(app)
    mail = smtp.wait_for(OLA["email"], count=3)[-1]
    stranger = app.test_client()
    assert stranger.post(link_in(text_of(mail), "case")).headers["Location"] == f"/case/{case.public_id}"


def test_send_again_of_a_failed_code_letter_says_why_it_cannot(smtp, app, client, session):
    address = "bounce@example.org"
    smtp.refuse.add(address)
    file_request(client, "access", email=address)
    run_jobs(app)
    session.expire_all()
    case = session.scalars(sa.select(SubjectRequest)).one()
    failed = _letters(session, case)["request_received"]
    assert failed.status is DeliveryStatus.FAILED and failed.secret_sealed is None
    officer = _staff_client(app, session, StaffRole.OFFICER)
    page = officer.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "carried a one-time code" in page
    assert f"/messages/{failed.id}/resend" not in page  # no button that cannot work
    jobs_before = session.scalar(sa.select(sa.func.count()).select_from(OutboxJob))
    refused = officer.post(f"/staff/cases/{case.id}/messages/{failed.id}/resend", follow_redirects=True)
    assert "carried a one-time code" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Message, failed.id).status is DeliveryStatus.FAILED
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxJob)) == jobs_before
