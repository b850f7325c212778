"""When connected systems hold different phone numbers for the subject, the portal does not guess which one
gets the step-up code (issue 13, finding 5): no SMS goes out, the request waits for staff to establish
identity (it neither expires nor gets reminders meanwhile), staff see it in their queue, and the case
opens only when they record how they established it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.db import get_db, utcnow
from dsr.identity.expiry import remind_and_expire
from dsr.identity.verification import PHONE_CONFLICT, Step, current_step
from dsr.models import AuditEvent, RequestStatus, StaffRole, SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, sms_lines, text_of
from tests.helpers.people import KARI, file_request, use_directory
from tests.helpers.staff import enrolled_staff, login

KARI_ELSEWHERE = {"id": 8, "email": KARI["email"], "phone": "+4798765432"}  # another number for Kari


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems", {
        "crm": {"people": [KARI]},
        "chat": {"people": [KARI_ELSEWHERE]},
        "newsletter": {"people": [{"id": 3, "email": KARI["email"], "phone": KARI["phone"]}]},
    })
    return app_config


def _file_and_prove_email(app, client, session, right: str = "access", lang: str = "en") -> SubjectRequest:
    assert file_request(client, right, phone="+47 22 22 22 22", lang=lang).status_code == 303
    request = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
    run_jobs(app)  # the acknowledgement with the code, and the lookup in every system
    code = code_in(text_of(mails_to(app, KARI["email"])[-1]))
    response = client.post(f"/verify/{request.public_id}", data={"code": code})
    assert response.status_code == 303
    run_jobs(app)
    session.expire_all()
    return session.get(SubjectRequest, request.id)


@pytest.mark.parametrize(("right", "lang", "explanation"), [
    ("access", "en", "Our privacy staff will contact you"),
    ("portability", "en", "Our privacy staff will contact you"),
    ("erasure", "nb", "Personvernteamet vårt tar kontakt med deg"),
])
def test_conflicting_phones_send_no_sms_and_hold_the_request_for_staff(app, client, session, right, lang,
                                                                       explanation):
    request = _file_and_prove_email(app, client, session, right, lang)
    assert sms_lines(app) == []  # neither number was guessed
    assert request.status is RequestStatus.AWAITING_VERIFICATION and request.verified_at is None
    assert request.identity_hold == PHONE_CONFLICT and request.step_up_required
    assert current_step(session, request) is Step.STAFF
    events = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "request.identity_held")).all()
    assert [(e.request_id, e.details) for e in events] == [(request.id, {"reason": PHONE_CONFLICT, "phones": 2})]

    page = client.get(f"/verify/{request.public_id}/checking", follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and explanation in html
    assert KARI["phone"][-3:] not in html and KARI_ELSEWHERE["phone"][-3:] not in html
    assert client.get(f"/case/{request.public_id}").status_code == 404  # no case yet


def test_a_held_request_neither_expires_nor_gets_reminders(app, client, session):
    request = _file_and_prove_email(app, client, session)
    mails_before = len(mails_to(app, KARI["email"]))
    with app.app_context():
        counts = remind_and_expire(session, now=utcnow() + timedelta(days=30))
        session.commit()
    assert (counts.reminded, counts.expired) == (0, 0)
    session.expire_all()
    assert session.get(SubjectRequest, request.id).status is RequestStatus.AWAITING_VERIFICATION
    run_jobs(app)
    assert len(mails_to(app, KARI["email"])) == mails_before


def test_staff_find_it_in_the_queue_and_the_case_opens_when_they_establish_identity(app, client, session):
    request = _file_and_prove_email(app, client, session)
    officer, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    staff = app.test_client()
    login(staff, officer, secret)
    queue = staff.get("/staff/").get_data(as_text=True)
    assert request.reference in queue and "Identity to establish" in queue
    page = staff.get(f"/staff/cases/{request.id}").get_data(as_text=True)
    assert "different phone numbers" in page
    response = staff.post(f"/staff/cases/{request.id}/identity", data={"how": "phone_callback"})
    assert response.status_code == 302
    session.expire_all()
    opened = session.get(SubjectRequest, request.id)
    assert opened.status is RequestStatus.OPEN and opened.identity_method == "staff:phone_callback"
    assert sms_lines(app) == []


def test_the_same_number_in_several_systems_is_no_conflict(app_config, tmp_path):
    use_directory(app_config, tmp_path / "agree", {
        "crm": {"people": [KARI]},
        "newsletter": {"people": [{"id": 3, "email": KARI["email"], "phone": KARI["phone"]}]},
    })
    app = create_app(app_config)
    try:
        with get_db(app).session() as session:
            request = _file_and_prove_email(app, app.test_client(), session)
            assert request.identity_hold is None and request.step_up_required
            (line,) = sms_lines(app)
            assert f"\t{KARI['phone']}\t" in line
    finally:
        get_db(app).dispose()
