"""The step-up fails closed (issue 13, finding 12): when a connected system does not answer the lookup even at
its last attempt, and none that answered holds a phone, e-mail alone must not open an access, portability or
erasure case (the silent system may hold the phone the SMS should go to). The request waits for staff, with
its own reason, as a phone conflict does; rights without step-up still open on the e-mail alone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsr.identity.verification import Step, current_step
from dsr.models import AuditEvent, Message, RequestStatus, StaffRole, SubjectLocation, SubjectRequest
from dsr.notify.service import deliver
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, sms_lines, text_of
from tests.helpers.people import KARI, file_request, use_directory
from tests.helpers.staff import enrolled_staff, login

SYSTEMS_UNREACHABLE = "systems_unreachable"  # SubjectRequest.identity_hold


@pytest.fixture
def app_config(app_config, tmp_path):
    """The CRM, which holds Kari's phone, is down; the newsletter answers and holds no phone."""
    use_directory(app_config, tmp_path / "systems", {
        "crm": {"people": [KARI], "fail": True},
        "newsletter": {"people": [{"id": 3, "email": KARI["email"]}]},
    })
    return app_config


def _latest(session) -> SubjectRequest:
    session.expire_all()
    return session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()


def _prove_email(app, client, request: SubjectRequest):
    code = code_in(text_of(mails_to(app, KARI["email"])[-1]))
    return client.post(f"/verify/{request.public_id}?lang=en", data={"code": code})


def _assert_held(app, client, session, request: SubjectRequest) -> None:
    session.expire_all()
    request = session.get(SubjectRequest, request.id)
    assert request.lookup_done_at is not None  # the lookup gave up on the CRM after its last attempt
    assert session.scalars(sa.select(SubjectLocation.error).where(SubjectLocation.system_key == "crm")).one()
    assert request.status is RequestStatus.AWAITING_VERIFICATION and request.verified_at is None
    assert request.identity_hold == SYSTEMS_UNREACHABLE and request.step_up_required
    assert current_step(session, request) is Step.STAFF
    assert sms_lines(app) == []
    events = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "request.identity_held")).all()
    assert [(e.request_id, e.details) for e in events] == [(request.id, {"reason": SYSTEMS_UNREACHABLE,
                                                                         "systems": 1})]
    page = client.get(f"/verify/{request.public_id}/checking?lang=en", follow_redirects=True)
    assert page.status_code == 200 and "Our privacy staff will contact you" in page.get_data(as_text=True)
    assert client.get(f"/case/{request.public_id}").status_code == 404  # no case on the e-mail alone


def test_a_system_silent_at_the_last_attempt_sends_the_request_to_staff(app, client, session):
    assert file_request(client, "access").status_code == 303
    run_jobs(app)  # the acknowledgement, and the lookup with every retry
    request = _latest(session)
    assert _prove_email(app, client, request).status_code == 303
    run_jobs(app)
    _assert_held(app, client, session, request)


def test_the_hold_also_comes_when_the_e_mail_was_proven_before_the_lookup_gave_up(app, client, session):
    assert file_request(client, "erasure").status_code == 303
    request = _latest(session)
    message = session.scalars(sa.select(Message).where(Message.request_id == request.id)).one()
    with app.app_context():
        deliver(session, message.id, final_attempt=True)  # only the mail: the lookup job still waits
        session.commit()
    assert _prove_email(app, client, request).headers["Location"].endswith("/checking")
    run_jobs(app)  # now the lookup, to its last attempt
    _assert_held(app, client, session, request)


def test_staff_see_why_and_open_the_case_when_they_establish_identity(app, client, session):
    file_request(client, "portability")
    run_jobs(app)
    request = _latest(session)
    _prove_email(app, client, request)
    run_jobs(app)
    officer, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    staff = app.test_client()
    login(staff, officer, secret)
    assert "Identity to establish" in staff.get("/staff/").get_data(as_text=True)
    page = staff.get(f"/staff/cases/{request.id}").get_data(as_text=True)
    assert "did not answer" in page and "establish identity another way" in page
    assert staff.post(f"/staff/cases/{request.id}/identity", data={"how": "phone_callback"}).status_code == 302
    opened = _latest(session)
    assert opened.status is RequestStatus.OPEN and opened.identity_method == "staff:phone_callback"


def test_a_right_without_step_up_still_opens_on_the_e_mail_alone(app, client, session):
    file_request(client, "rectification", wrong="My address", correct="Storgata 1")
    run_jobs(app)
    request = _latest(session)
    _prove_email(app, client, request)
    run_jobs(app)
    opened = _latest(session)
    assert opened.status is RequestStatus.OPEN and opened.identity_hold is None
