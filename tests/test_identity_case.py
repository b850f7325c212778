"""The subject's case page and the ways back to it; reminders and expiry of unverified requests; letters
that could not be delivered are shown, not lost."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask import session as flask_session

from dsr import links
from dsr.cases.decisions import ask_subject
from dsr.crypto import keyed_hmac
from dsr.db import get_db, utcnow
from dsr.identity.expiry import remind_and_expire, sweep_unverified_requests
from dsr.identity.subject_access import (
    CODE,
    download_proven,
    grant_case_access,
    has_case_access,
    mark_download_proven,
)
from dsr.models import (
    AuditEvent,
    CaseAccess,
    DeliveryChannel,
    DeliveryStatus,
    Message,
    MessageDirection,
    RequestStatus,
    SubjectRequest,
)
from dsr.notify.service import queue_email
from dsr.queue.jobs import use_app
from dsr.queue.registry import job_spec
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, link_in, mails_to, text_of
from tests.helpers.people import OLA, file_request, open_case, use_directory


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def test_the_case_page_shows_status_timeline_due_date_and_messages_from_staff(app, client, session):
    case = open_case(app, client, session)
    with app.test_request_context():
        queue_email(
            session,
            to=case.email,
            template="verification_code",
            language="en",
            context={"reference": case.reference, "code_minutes": 10, "link_url": "x"},
            request_id=case.id,
            secret="123456",
        )
    session.add(
        Message(
            request_id=case.id,
            direction=MessageDirection.TO_SUBJECT,
            channel=DeliveryChannel.EMAIL,
            template="ask_for_information",
            subject_line="We need your customer number",
            body_text="Please send us your customer number.",
            author_id=None,
            language="en",
        )
    )
    session.add(
        Message(
            request_id=case.id,
            direction=MessageDirection.INTERNAL_NOTE,
            channel=DeliveryChannel.PORTAL,
            body_text="Secret staff note",
            language="en",
        )
    )
    session.commit()
    page = client.get(f"/case/{case.public_id}?lang=en").get_data(as_text=True)
    assert "Received and confirmed: waiting for our privacy team" in page
    assert "We received your request" in page and "You confirmed who you are" in page
    assert f"{case.deadline_on:%B} {case.deadline_on.day}, {case.deadline_on.year}" in page
    assert "Please send us your customer number." in page
    assert "Secret staff note" not in page and "[[dsr-secret]]" not in page and "123456" not in page


def test_a_browser_let_in_twice_sees_each_message_once_in_order(app, client, session):
    case = open_case(app, client, session)
    # besides proving the address, this browser later gave a fresh code: two live access rows
    with client.session_transaction() as cookie:
        browser = keyed_hmac("browser", cookie["dsr_browser"], app)
    session.add(CaseAccess(request_id=case.id, browser=browser, via=CODE, factors="email",
                           expires_at=utcnow() + timedelta(hours=1)))
    session.add(Message(request_id=case.id, direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                        template="ask_for_information", subject_line="We need your customer number",
                        body_text="Please send us your customer number.", language="en"))
    session.add(Message(request_id=case.id, direction=MessageDirection.INTERNAL_NOTE,
                        channel=DeliveryChannel.PORTAL, body_text="Secret staff note", language="en"))
    session.commit()
    assert client.post(f"/case/{case.public_id}/reply", data={"message": "It is 4471."}).status_code == 303

    page = client.get(f"/case/{case.public_id}?lang=en").get_data(as_text=True)
    assert page.count("Please send us your customer number.") == 1 and page.count("It is 4471.") == 1
    assert page.index("Please send us your customer number.") < page.index("It is 4471.")
    assert "Secret staff note" not in page
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseAccess)
                          .where(CaseAccess.request_id == case.id, CaseAccess.browser == browser)) == 2


def test_the_case_page_speaks_the_case_language_unless_the_visitor_chose_another(app, client):
    # No `session` fixture here: its app context would outlive the requests and keep Babel's cached locale.
    file_request(client, "access", email=OLA["email"], lang="nb")
    run_jobs(app)
    with get_db(app).session() as session:
        request = session.scalars(sa.select(SubjectRequest)).one()
    fresh = app.test_client()
    link = link_in(text_of(mails_to(app, OLA["email"])[0]))
    fresh.post(link)
    assert "Vi må svare innen" in fresh.get(f"/case/{request.public_id}").get_data(as_text=True)
    assert "We must answer by" in fresh.get(f"/case/{request.public_id}?lang=en").get_data(as_text=True)
    assert request.language == "nb"


def test_a_reply_is_a_message_from_the_subject_on_the_case(app, client, session):
    case = open_case(app, client, session)
    assert (
        client.post(
            f"/case/{case.public_id}/reply", data={"message": "My customer number is 42.\r\nKari"}
        ).status_code
        == 303
    )
    message = session.scalars(
        sa.select(Message).where(Message.direction == MessageDirection.FROM_SUBJECT)
    ).one()
    assert (message.channel, message.body_text, message.status) == (
        DeliveryChannel.PORTAL,
        "My customer number is 42.\nKari",
        DeliveryStatus.NOT_SENT,
    )
    assert session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "subject.replied")
    ).one().details == {"message_id": message.id}
    empty = client.post(f"/case/{case.public_id}/reply?lang=en", data={"message": "  "})
    assert empty.status_code == 400 and "Write your message" in empty.get_data(as_text=True)


def test_the_subject_can_withdraw_and_gets_a_letter_saying_so(app, client, session):
    case = open_case(app, client, session)
    confirm = client.get(f"/case/{case.public_id}/withdraw?lang=en")
    assert "Are you sure" in confirm.get_data(as_text=True)
    session.expire_all()
    assert session.get(SubjectRequest, case.id).status is RequestStatus.OPEN  # the GET changed nothing
    assert client.post(f"/case/{case.public_id}/withdraw").status_code == 303
    session.expire_all()
    withdrawn = session.get(SubjectRequest, case.id)
    assert withdrawn.status is RequestStatus.WITHDRAWN and withdrawn.withdrawn_at is not None
    assert "case.withdrawn" in [e.action for e in session.scalars(sa.select(AuditEvent))]
    run_jobs(app)
    letter = mails_to(app, OLA["email"])[-1]
    assert letter["Subject"].startswith("Du har trukket tilbake") or letter["Subject"].startswith("You have")
    assert link_in(text_of(letter), "case").startswith("/case/open/")
    again = client.post(f"/case/{case.public_id}/withdraw")
    assert again.status_code == 303  # nothing to withdraw any more: back to the page, with a message
    assert "Withdraw this request" not in client.get(f"/case/{case.public_id}?lang=en").get_data(as_text=True)


def test_another_browser_gets_not_found_for_a_case_never_forbidden(app, client, session):
    case = open_case(app, client, session)
    stranger = app.test_client()
    for path in (
        f"/case/{case.public_id}",
        f"/case/{case.public_id}/withdraw",
        "/case/NoSuchCaseAtAll123456",
    ):
        assert stranger.get(path).status_code == 404
    assert stranger.post(f"/case/{case.public_id}/reply", data={"message": "hi"}).status_code == 404
    assert stranger.post(f"/case/{case.public_id}/withdraw").status_code == 404


def test_the_case_link_in_every_mail_opens_the_case_after_a_confirm_page(app, client, session):
    case = open_case(app, client, session)
    verified = mails_to(app, OLA["email"])[-1]
    path = link_in(text_of(verified), "case")
    assert verified.get_body(preferencelist=("html",)) is not None
    other = app.test_client()
    assert other.get(path).status_code == 200
    assert other.get(f"/case/{case.public_id}").status_code == 404  # the GET granted nothing
    assert other.post(path).headers["Location"] == f"/case/{case.public_id}"
    assert other.get(f"/case/{case.public_id}").status_code == 200
    assert other.post(path).status_code == 303  # a second click in the browser it let in carries on
    third = app.test_client()  # but the link opens the case once (issue 13, finding 1)
    assert third.post(path).headers["Location"] == path and third.get(f"/case/{case.public_id}").status_code == 404


def test_an_old_case_link_still_opens_the_case_with_a_fresh_code(app, client, session):
    case = open_case(app, client, session)
    letter = session.scalars(sa.select(Message.id).where(Message.request_id == case.id)).first()
    with app.test_request_context():
        token = links.case_token(case.public_id, letter)
    other = app.test_client()
    later = utcnow() + timedelta(days=31)
    with time_machine.travel(later, tick=False):
        page = other.get(f"/case/open/{token}?lang=en").get_data(as_text=True)
        assert "This link is too old" in page
        assert other.post(f"/case/open/{token}").headers["Location"] == f"/case/open/{token}"  # no access
        assert other.post(f"/case/open/{token}/send-code").headers["Location"] == f"/case/open/{token}/code"
    run_jobs(app)
    letter = mails_to(app, OLA["email"])[-1]
    assert "open request" in letter["Subject"] or "åpne forespørsel" in letter["Subject"]
    with time_machine.travel(later + timedelta(minutes=1), tick=False):
        assert (
            other.post(f"/case/open/{token}/code", data={"code": code_in(text_of(letter))}).headers[
                "Location"
            ]
            == f"/case/{case.public_id}"
        )
        assert other.get(f"/case/{case.public_id}").status_code == 200
    assert other.get("/case/open/not-a-token").status_code == 404


def test_case_access_expires_and_fresh_proofs_have_an_age(app, session, make_request):
    case = make_request()
    with app.test_request_context():
        assert not has_case_access(case)
        assert grant_case_access(case, CODE)
        mark_download_proven(case)
        assert has_case_access(case) and download_proven(case, 600)
        assert set(flask_session) == {"dsr_browser"}  # the proofs are kept on the server
        with time_machine.travel(time.time() + 601, tick=False):
            assert not download_proven(case, 600)
        with time_machine.travel(time.time() + app.config["CASE_ACCESS_SECONDS"] + 1, tick=False):
            assert not has_case_access(case)


def test_unverified_requests_get_one_reminder_then_expire_with_a_letter(app, client, session):
    file_request(client, "access", email=OLA["email"], lang="en")
    run_jobs(app)
    request = session.scalars(sa.select(SubjectRequest)).one()
    start = utcnow()
    with app.app_context():
        with time_machine.travel(start + timedelta(hours=23), tick=False):
            assert remind_and_expire(session).reminded == 0
        with time_machine.travel(start + timedelta(hours=24, minutes=1), tick=False):
            assert remind_and_expire(session).reminded == 1
            session.commit()
            assert remind_and_expire(session).reminded == 0  # once
    run_jobs(app)
    reminder = mails_to(app, OLA["email"])[-1]
    assert reminder["Subject"] == f"Please confirm your request {request.reference}"
    with time_machine.travel(start + timedelta(hours=24, minutes=5), tick=False):  # its fresh code works
        fresh_code = code_in(text_of(reminder))
        other = app.test_client()
        assert (
            other.post(
                f"/verify/{request.public_id}",
                data={"code": "000000" if fresh_code != "000000" else "111111"},
            ).status_code
            == 400
        )
    with app.app_context(), time_machine.travel(start + timedelta(days=7, minutes=1), tick=False):
        counts = remind_and_expire(session)
        session.commit()
        assert counts.expired == 1 and remind_and_expire(session).expired == 0
    session.expire_all()
    expired = session.get(SubjectRequest, request.id)
    assert expired.status is RequestStatus.EXPIRED and expired.closed_at is not None
    run_jobs(app)
    letter = mails_to(app, OLA["email"])[-1]
    assert letter["Subject"] == f"Your request {request.reference} has been closed"
    page = client.post(f"/verify/{request.public_id}?lang=en", data={"code": fresh_code})
    assert "This request is closed" in client.get(page.headers["Location"] + "?lang=en").get_data(
        as_text=True
    )


def test_the_periodic_job_runs_the_sweep(app, session):
    assert job_spec("sweep_unverified_requests").every == 60
    use_app(app)
    assert sweep_unverified_requests() == {"reminded": 0, "expired": 0}


def test_a_code_mail_that_cannot_be_delivered_is_shown_not_lost(smtp, app, client, session):
    smtp.refuse.add("bounce@example.org")
    file_request(client, "access", email="bounce@example.org")
    run_jobs(app)
    message = session.scalars(sa.select(Message)).one()
    assert message.status is DeliveryStatus.FAILED and "refused" in message.last_error
    request = session.scalars(sa.select(SubjectRequest)).one()
    page = client.get(f"/verify/{request.public_id}?lang=en").get_data(as_text=True)
    assert "We could not deliver the e-mail with your code" in page


def test_an_answer_on_the_case_page_ends_the_identity_pause_and_tells_staff(app, client, session, make_staff):
    officer = make_staff()
    case = open_case(app, client, session)
    with app.app_context():
        ask_subject(session, case, actor=officer, text="Which customer number do you have?", about_identity=True,
                    controller=app.extensions["dsr.controller"])
        session.commit()
    assert case.status is RequestStatus.AWAITING_SUBJECT and case.pauses[0].ended_at is None

    assert client.post(f"/case/{case.public_id}/reply", data={"message": "It is 42."}).status_code == 303
    session.expire_all()
    case = session.get(SubjectRequest, case.id)
    assert case.status is RequestStatus.OPEN and case.pauses[0].ended_at is not None
    run_jobs(app)
    (told,) = mails_to(app, officer.email)
    assert told["Subject"] == f"The subject answered: case {case.reference}"

    # A message nobody asked for changes nothing but still reaches staff.
    assert client.post(f"/case/{case.public_id}/reply", data={"message": "Also: thanks."}).status_code == 303
    run_jobs(app)
    assert mails_to(app, officer.email)[-1]["Subject"] == f"A message from the subject: case {case.reference}"
    session.expire_all()
    assert session.get(SubjectRequest, case.id).status is RequestStatus.OPEN
