"""The SMS step-up holds at download (issue 13, finding 1).

Kari proves her e-mail and the SMS code sent to the phone the CRM holds; her access case opens with both
factors and staff release the bundle. Someone holding only her mailbox then has the "your data is ready"
letter: its case link opens the case page once, but the download needs the factor the mailbox cannot give
(the code goes by SMS to the phone the case was opened with). The case link in a letter works once; the case
access a browser holds is kept on the server (the cookie names only the browser) and staff can end it."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from itsdangerous import URLSafeTimedSerializer

from dsr.db import get_session, utcnow
from dsr.export.manual import complete_manual_task
from dsr.export.release import release_to_subject
from dsr.identity.expiry import prune_case_access
from dsr.identity.subject_access import CASE_LINK, grant_case_access
from dsr.links import CASE_SALT
from dsr.models import AuditEvent, CaseAccess, ExportBundle, StaffRole, SubjectRequest
from tests.helpers.export import KARI, approve, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, link_in, sms_lines, text_of
from tests.helpers.people import file_request
from tests.helpers.staff import enrolled_staff, login

pytestmark = pytest.mark.slow

EMAIL_AND_SMS = "email_code+sms_code"


def _number(sms_line: str) -> str:
    return re.search(r"\t(\+\d+)\t", sms_line).group(1)


def _sms_to(app, text: str) -> list[str]:
    return [line for line in sms_lines(app) if text in line]


@pytest.fixture
def opened(smtp, demo_app, demo_session):
    """Kari's access case, opened in her browser with the e-mail code and the SMS code, its bundle released;
    (case, bundle, her browser, the 'your data is ready' letter)."""
    app, session = demo_app, demo_session
    kari = app.test_client()
    assert file_request(kari, "access", email=KARI).status_code == 303
    run_jobs(app)  # the acknowledgement, and the lookup: the CRM holds Kari's phone
    case = session.scalars(sa.select(SubjectRequest)).one()
    assert kari.post(f"/verify/{case.public_id}", data={"code": code_in(text_of(smtp.wait_for(KARI)[-1]))}
                     ).headers["Location"].endswith("/phone")
    run_jobs(app)
    (step_up,) = sms_lines(app)
    assert kari.post(f"/verify/{case.public_id}/phone", data={"code": code_in(step_up)}).status_code == 303
    session.expire_all()
    case = session.get(SubjectRequest, case.id)
    assert case.identity_method == EMAIL_AND_SMS
    approve(session, case)
    run_jobs(app)
    complete_manual_task(session, tasks_by_system(session, case.id)["mailbox"].id, 1, nothing_found=True)
    session.commit()
    run_jobs(app)
    staff, _ = enrolled_staff(session, app)
    bundle = release_to_subject(session, case.id, staff.id)
    session.commit()
    run_jobs(app)
    letter = [m for m in smtp.wait_for(KARI, count=3) if "ready" in m["Subject"]][-1]
    return case, bundle, kari, text_of(letter)


def _url(case, bundle, tail: str = "") -> str:
    return f"/case/{case.public_id}/download/{bundle.download_id}{tail}"


def _downloads(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(ExportBundle.download_count))


def test_the_mailbox_alone_cannot_download_a_case_opened_with_e_mail_and_sms(smtp, demo_app, demo_session,
                                                                            opened):
    case, bundle, kari, letter = opened
    phone_line = sms_lines(demo_app)[0]
    mailbox_thief = demo_app.test_client()
    assert mailbox_thief.post(link_in(letter, "case")).headers["Location"] == f"/case/{case.public_id}"
    assert "by text message" in letter  # the letter says where the code will go
    page = mailbox_thief.get(_url(case, bundle) + "?lang=en").get_data(as_text=True)
    assert "by text message" in page and "e-mail address of the request" not in page
    mails_before = len(smtp.to(KARI))
    assert mailbox_thief.post(_url(case, bundle)).headers["Location"].endswith("/code")
    run_jobs(demo_app)
    assert len(smtp.to(KARI)) == mails_before  # no code in the mailbox
    (sms,) = _sms_to(demo_app, "code to download")
    assert _number(sms) == _number(phone_line)  # to the phone the case was opened with
    code_page = mailbox_thief.get(_url(case, bundle, "/code") + "?lang=en").get_data(as_text=True)
    assert "Code from the text message" in code_page
    assert mailbox_thief.post(_url(case, bundle, "/code"), data={"code": "000000"}).status_code == 400
    assert _downloads(demo_session) == 0

    # Kari, with her phone, a minute later (codes are at least that far apart): the SMS code gives her the file.
    with time_machine.travel(utcnow() + timedelta(seconds=61)):
        assert kari.post(_url(case, bundle)).status_code == 303
        run_jobs(demo_app)
        code = code_in(_sms_to(demo_app, "code to download")[-1])
        download = kari.post(_url(case, bundle, "/code"), data={"code": code})
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert _downloads(demo_session) == 1


def test_the_case_link_in_a_letter_opens_the_case_once(smtp, demo_app, demo_session, opened):
    case, _bundle, _kari, letter = opened
    link = link_in(letter, "case")
    first, second = demo_app.test_client(), demo_app.test_client()
    assert first.get(link).status_code == 200 and first.get(f"/case/{case.public_id}").status_code == 404
    assert first.post(link).headers["Location"] == f"/case/{case.public_id}"
    assert first.post(link).headers["Location"] == f"/case/{case.public_id}"  # a second click: carry on
    assert second.post(link).headers["Location"] == link  # used: its page offers a fresh code instead
    assert "already been used" in second.get(link + "?lang=en").get_data(as_text=True)
    assert second.get(f"/case/{case.public_id}").status_code == 404
    # A link of the kind letters carried before (the case alone, any number of times) opens nothing now.
    old = URLSafeTimedSerializer(demo_app.config["SECRET_KEY"], salt=CASE_SALT).dumps({"r": case.public_id})
    assert second.post(f"/case/open/{old}").headers["Location"] == f"/case/open/{old}"
    assert second.get(f"/case/{case.public_id}").status_code == 404
    assert second.post(f"/case/open/{old}/send-code").headers["Location"] == f"/case/open/{old}/code"


def test_case_access_is_kept_on_the_server_and_staff_can_end_it(smtp, demo_app, demo_session, opened):
    case, _bundle, kari, _letter = opened
    cookie = kari.get_cookie("dsr")
    content = demo_app.session_interface.get_signing_serializer(demo_app).loads(cookie.value)
    # The cookie names the browser (and the request it filed, for the "received" page), not what it proved.
    assert set(content) <= {"_fresh", "csrf_token", "dsr_browser", "dsr_filed", "lang"}, content
    copy = demo_app.test_client()
    copy.set_cookie("dsr", cookie.value)
    assert kari.get(f"/case/{case.public_id}").status_code == 200
    assert copy.get(f"/case/{case.public_id}").status_code == 200

    viewer, viewer_secret = enrolled_staff(demo_session, demo_app, StaffRole.VIEWER)
    as_viewer = demo_app.test_client()
    login(as_viewer, viewer, viewer_secret)
    assert as_viewer.post(f"/staff/cases/{case.id}/subject-access/end").status_code == 403
    officer, secret = enrolled_staff(demo_session, demo_app, StaffRole.OFFICER)
    staff = demo_app.test_client()
    login(staff, officer, secret)
    page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "End the subject's access in every browser" in page
    assert staff.post(f"/staff/cases/{case.id}/subject-access/end").status_code == 302
    assert kari.get(f"/case/{case.public_id}").status_code == 404
    assert copy.get(f"/case/{case.public_id}").status_code == 404
    demo_session.expire_all()
    event = demo_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "case.access_ended")).one()
    assert event.request_id == case.id and event.actor_id == str(officer.id) and event.details == {"browsers": 1}


def test_access_rows_are_deleted_once_no_link_they_guard_can_be_used(app, session, make_request):
    case = make_request()
    with app.test_request_context():
        assert grant_case_access(case, CASE_LINK, case_link_message_id=41)
        get_session().commit()
    link_life = timedelta(seconds=app.config["CASE_LINK_MAX_AGE_SECONDS"])
    access_life = timedelta(seconds=app.config["CASE_ACCESS_SECONDS"])
    with app.app_context():
        assert prune_case_access(session, utcnow() + link_life) == 0  # its letter's link could still come back
        assert prune_case_access(session, utcnow() + link_life + access_life + timedelta(seconds=1)) == 1
        session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseAccess)) == 0
