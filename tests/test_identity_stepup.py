"""Step-up for access, portability and erasure: a code by SMS to the phone a connected system holds (never
the number typed in the form), e-mail alone when no phone is on file, and what happens when systems fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from dsr import create_app
from dsr.connectors.base import SubjectRef
from dsr.db import get_db, utcnow
from dsr.identity.lookup import LookupIncomplete, locate_subject
from dsr.models import AuditEvent, Message, RequestStatus, SubjectLocation, SubjectRequest
from dsr.notify.service import deliver
from dsr.validation import mask_phone
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, sms_lines, text_of
from tests.helpers.people import KARI, OLA, file_request, use_directory

ANNA = {"id": 7, "email": "anna@example.org", "phone": "+46701234567"}


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(
        app_config,
        tmp_path / "systems",
        {
            "crm": {"people": [KARI, OLA]},
            "newsletter": {"people": [{"id": 3, "email": OLA["email"]}, {"id": 4, "email": ANNA["email"]}]},
            "chat": {"people": [ANNA]},
        },
    )
    return app_config


def _file_and_verify_email(
    app, client, session, right="access", email=KARI["email"], run_lookup=True, **answers
):
    assert file_request(client, right, email=email, phone="+47 22 22 22 22", **answers).status_code == 303
    request = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
    if run_lookup:
        run_jobs(app)
        mail = text_of(mails_to(app, email)[-1])
    else:  # deliver only the mail, leave the lookup job waiting

        message = session.scalars(sa.select(Message).where(Message.request_id == request.id)).one()
        with app.app_context():
            deliver(session, message.id, final_attempt=True)
            session.commit()
        mail = text_of(mails_to(app, email)[-1])
    response = client.post(f"/verify/{request.public_id}?lang=en", data={"code": code_in(mail)})
    session.expire_all()
    return session.get(SubjectRequest, request.id), response


def test_erasure_steps_up_to_the_phone_on_file_never_the_typed_one(app, client, session):
    request, response = _file_and_verify_email(app, client, session, "erasure")
    assert response.headers["Location"] == f"/verify/{request.public_id}/phone"
    assert request.status is RequestStatus.AWAITING_VERIFICATION and request.step_up_required
    run_jobs(app)
    (line,) = sms_lines(app)
    assert f"\t{KARI['phone']}\t" in line and "+4722222222" not in line
    page = client.get(f"/verify/{request.public_id}/phone?lang=en").get_data(as_text=True)
    assert "+47 *** ** 789" in page and "91234789" not in page
    assert client.get(f"/case/{request.public_id}").status_code == 404  # not yet
    done = client.post(
        f"/verify/{request.public_id}/phone", data={"code": code_in(line.rsplit(chr(9), 1)[1])}
    )
    assert done.headers["Location"] == f"/case/{request.public_id}"
    session.expire_all()
    opened = session.get(SubjectRequest, request.id)
    assert opened.status is RequestStatus.OPEN and opened.identity_method == "email_code+sms_code"
    assert client.get(f"/case/{request.public_id}").status_code == 200


def test_the_sms_code_is_bound_to_the_browser_that_proved_the_email(app, client, session):
    request, _response = _file_and_verify_email(app, client, session, "portability")
    run_jobs(app)
    code = code_in(sms_lines(app)[-1].rsplit("\t", 1)[1])
    stranger = app.test_client()
    refused = stranger.post(f"/verify/{request.public_id}/phone", data={"code": code})
    assert refused.headers["Location"] == f"/verify/{request.public_id}"  # no e-mail proof in that browser
    assert client.post(f"/verify/{request.public_id}/phone", data={"code": code}).status_code == 303


def test_no_phone_on_file_means_the_email_alone_suffices(app, client, session):
    request, response = _file_and_verify_email(app, client, session, "access", email=OLA["email"])
    assert response.headers["Location"] == f"/case/{request.public_id}"
    assert request.status is RequestStatus.OPEN and request.identity_method == "email_code"
    assert not request.step_up_required and sms_lines(app) == []


def test_an_unknown_address_is_verified_by_email_alone(app, client, session):
    request, _response = _file_and_verify_email(app, client, session, "erasure", email="stranger@example.org")
    assert request.status is RequestStatus.OPEN and request.identity_method == "email_code"
    locations = session.scalars(
        sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id)
    ).all()
    assert {(loc.system_key, loc.found) for loc in locations} == {
        ("crm", False),
        ("newsletter", False),
        ("chat", False),
    }


def test_rights_without_step_up_do_not_wait_for_the_lookup(app, client, session):
    request, _response = _file_and_verify_email(
        app, client, session, "rectification", run_lookup=False, wrong="Name", correct="Kari"
    )
    assert request.status is RequestStatus.OPEN and request.lookup_done_at is None


def test_the_refs_found_in_each_system_are_kept_for_the_export(app, client, session):
    request, _response = _file_and_verify_email(app, client, session, "access", email=ANNA["email"])
    rows = {
        loc.system_key: loc
        for loc in session.scalars(sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id))
    }
    assert not rows["crm"].found and rows["newsletter"].found and rows["chat"].found
    ref = SubjectRef.from_json(rows["chat"].ref)
    assert ref.keys == {"people.id": [7]} and ref.phones == [ANNA["phone"]]
    assert request.step_up_required  # a Swedish number on file is as good as a Norwegian one


def test_before_the_lookup_finishes_a_checking_page_refreshes_itself(app, client, session):
    request, response = _file_and_verify_email(app, client, session, "erasure", run_lookup=False)
    assert response.headers["Location"] == f"/verify/{request.public_id}/checking"
    page = client.get(f"/verify/{request.public_id}/checking?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "We are checking your request" in html
    assert page.headers["Refresh"].startswith("3; url=/verify/") and "<script" not in html
    assert "Refresh" not in client.get(f"/verify/{request.public_id}/checking?refresh=off").headers
    run_jobs(app)  # the lookup finds Kari's phone and sends the SMS code by itself
    assert client.get(f"/verify/{request.public_id}/checking").headers["Location"].endswith("/phone")
    assert len(sms_lines(app)) == 1


def test_a_failing_system_is_retried_before_the_bar_is_lowered(app_config, tmp_path):
    use_directory(
        app_config,
        tmp_path / "failing",
        {
            "crm": {"people": [KARI], "fail": True},
            "newsletter": {"people": [{"id": 3, "email": KARI["email"]}]},
        },
    )
    app = create_app(app_config)
    client = app.test_client()
    with get_db(app).session() as session:
        file_request(client, "erasure")
        request = session.scalars(sa.select(SubjectRequest)).one()
        with app.app_context():
            with pytest.raises(LookupIncomplete):
                locate_subject(session, request.id, final_attempt=False)
            session.expire_all()
            assert session.get(SubjectRequest, request.id).lookup_done_at is None
            errors = {loc.system_key: loc.error for loc in session.scalars(sa.select(SubjectLocation))}
            assert errors == {"crm": "CRM is not answering", "newsletter": None}  # kept for staff meanwhile
            assert locate_subject(session, request.id, final_attempt=True)
            session.commit()
        session.expire_all()
        done = session.get(SubjectRequest, request.id)
        assert done.lookup_done_at is not None and not done.step_up_required
        event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "request.located")).one()
        assert event.details["failed"] == 1 and event.details["phone_on_file"] is False
    get_db(app).dispose()


def test_a_failing_system_does_not_matter_when_another_holds_the_phone(app_config, tmp_path):
    use_directory(app_config, tmp_path / "half", {"crm": {"people": [KARI]}, "chat": {"fail": True}})
    app = create_app(app_config)
    with get_db(app).session() as session, app.app_context():
        file_request(app.test_client(), "access")
        request = session.scalars(sa.select(SubjectRequest)).one()
        assert locate_subject(session, request.id, final_attempt=False)  # no retry needed
        session.commit()
        assert session.get(SubjectRequest, request.id).step_up_required
    get_db(app).dispose()


def test_the_lookup_job_is_idempotent(app, client, session):
    request, _response = _file_and_verify_email(app, client, session, "access")
    with app.app_context():
        assert locate_subject(session, request.id) is False
        assert locate_subject(session, 10**6) is False
    assert (
        len(session.scalars(sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id)).all())
        == 3
    )


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+4791234789", "+47 *** ** 789"),
        ("+46701234567", "+46 *** *** 567"),
        ("+4722334455", "+47 *** ** 455"),
        ("+441632960961", "+44 *** *** * 961"),
    ],
)
def test_phone_numbers_are_shown_masked(number, masked):
    assert mask_phone(number) == masked


@given(st.from_regex(r"\+47[49][0-9]{7}", fullmatch=True))
def test_a_masked_number_shows_at_most_its_country_code_and_last_three_digits(number):
    shown = [c for c in mask_phone(number) if c.isdigit()]
    assert shown == list("47") + list(number[-3:])


def test_a_browser_that_lost_its_session_proves_the_email_again_and_carries_on(app, client, session):
    request, _response = _file_and_verify_email(app, client, session, "erasure")
    run_jobs(app)  # the first SMS goes out, bound to the first browser
    later = utcnow() + timedelta(seconds=61)
    other = app.test_client()  # the subject's cookie is gone (or they switched device)
    with time_machine.travel(later, tick=False):
        page = other.get(f"/verify/{request.public_id}?lang=en").get_data(as_text=True)
        assert "Confirm your e-mail address" in page and 'name="code"' in page
        assert other.post(f"/verify/{request.public_id}/resend").status_code == 200
        run_jobs(app)
        code = code_in(text_of(mails_to(app, KARI["email"])[-1]))
        proven = other.post(f"/verify/{request.public_id}", data={"code": code})
        assert proven.headers["Location"].endswith("/phone")
        assert other.post(f"/verify/{request.public_id}/phone/resend").status_code == 200
        run_jobs(app)
        sms = code_in(sms_lines(app)[-1].rsplit("\t", 1)[1])
        done = other.post(f"/verify/{request.public_id}/phone", data={"code": sms})
    assert done.headers["Location"] == f"/case/{request.public_id}"
    assert len(sms_lines(app)) == 2
