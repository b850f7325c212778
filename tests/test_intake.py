"""Filing a request: the start page and one form per right, check your answers, "received" only after the
commit, the due date fixed at receipt, the acknowledgement letter, and the contract the staff area calls."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from sqlalchemy.orm import Session

from dsr.cases.opening import DIRECT_MARKETING
from dsr.deadlines.rules import compute_deadlines
from dsr.intake.service import InvalidRequest, submit_request
from dsr.models import AuditEvent, Channel, Message, OutboxJob, RequestStatus, Right, SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, link_in, mails_to, text_of
from tests.helpers.people import KARI, file_request, use_directory


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def _requests(session) -> list[SubjectRequest]:
    session.expire_all()
    return list(session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id)))


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "See the data we hold about you",
                "Withdraw your consent",
                "Object to how we use your data",
                "Take your data to another service",
                "Limit how we use your data",
                "Have your data deleted",
                "Correct data that is wrong",
                "Start now",
                "Data protection officer",
                "dpo@fjordnett.example",
                "personvern@fjordnett.example",
                "Datatilsynet",
                "Dronningens gate 12, 0152 Oslo, Norway",
                "Privacy requests",
            ],
        ),
        (
            "nb",
            [
                "Dronningens gate 12, 0152 Oslo, Norge",  # the address as a Norwegian page writes it
                "Postboks 458 Sentrum, 0105 Oslo, Norge",
                "Personvernforespørsler",
                "Innsyn – se hvilke opplysninger vi har om deg",
                "Trekke tilbake samtykket ditt",
                "Start nå",
                "Personvernombud",
                "Ingrid Solberg",
                "Hvis du ikke er fornøyd",
            ],
        ),
    ],
)
def test_the_start_page_explains_the_seven_rights_and_who_answers(client, language, expected):
    page = client.get(f"/?lang={language}").get_data(as_text=True)
    for text in expected:
        assert text in page
    assert page.count('class="button button-start"') == 1


@pytest.mark.parametrize(
    ("slug", "asked", "not_asked"),
    [
        ("access", [], ["wrong", "processing", "consent", "receiving_service", "ground"]),
        ("erasure", [], ["wrong", "processing", "consent"]),
        ("rectification", ["wrong", "correct"], ["processing", "consent"]),
        ("objection", ["processing", "processing_text", "reason"], ["wrong", "consent"]),
        ("withdraw-consent", ["consent"], ["wrong", "processing"]),
        ("portability", ["receiving_service"], ["wrong", "consent"]),
        ("restriction", ["ground", "explanation"], ["wrong", "consent"]),
    ],
)
def test_each_right_asks_only_what_it_needs(client, slug, asked, not_asked):
    page = client.get(f"/request/{slug}?lang=en").get_data(as_text=True)
    names = set(re.findall(r'<(?:input|textarea|select)[^>]*\bname="([a-z_]+)"', page))
    assert {"email", "full_name", "phone"} <= names
    assert set(asked) <= names
    assert not set(not_asked) & names
    for name in names - {"csrf_token"}:  # every input has a visible label
        assert re.search(rf'<label for="{name}(-0)?"', page), name


def test_check_your_answers_shows_the_answers_and_change_brings_them_back(client, session):
    answers = {
        "wrong": "My surname",
        "correct": "Nordmann",
        "email": "Kari@Example.org",
        "full_name": "Kari",
        "phone": "912 34 567",
    }
    page = client.post("/request/rectification?lang=en", data=answers)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Check your answers" in html
    assert "Kari@example.org" in html and "+4791234567" in html  # normalised before you check them
    assert re.search(r'name="intake_key" type="hidden" value="[A-Za-z0-9_-]{32}"', html)
    changed = client.post("/request/rectification", data={**answers, "change": "phone"})
    assert 'value="912 34 567"' in changed.get_data(as_text=True) and "autofocus" in changed.get_data(
        as_text=True
    )
    assert _requests(session) == []  # nothing stored before "Send"


def test_sending_stores_the_request_and_says_received_with_reference_and_due_date(app, client, session):
    response = file_request(
        client,
        "rectification",
        wrong="My address",
        correct="Storgata 1, 0155 Oslo",
        full_name="Kari Nordmann",
        phone="+47 912 34 789",
    )
    assert response.status_code == 303 and response.headers["Location"] == "/request/received"
    (request,) = _requests(session)
    assert request.right is Right.RECTIFICATION and request.status is RequestStatus.AWAITING_VERIFICATION
    assert request.details == {"wrong": "My address", "correct": "Storgata 1, 0155 Oslo"}
    assert request.phone == "+4791234789" and request.language == "en" and request.channel is Channel.WEB
    expected = compute_deadlines(request.received_at, tz="Europe/Oslo", country="NO")
    assert (request.due_on, request.deadline_on) == (expected.due_on, expected.due_on)
    page = client.get("/request/received").get_data(as_text=True)
    assert "Request received" in page and request.reference in page
    assert f"{expected.due_on:%B} {expected.due_on.day}, {expected.due_on.year}" in page
    actions = [e.action for e in session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions[:2] == ["request.received", "identity.code_issued"]
    jobs = {(row.job_name, tuple(row.args)) for row in session.scalars(sa.select(OutboxJob))}
    assert ("lookup_subject", (request.id,)) in jobs


def test_received_is_said_only_after_the_commit(client, session, monkeypatch):
    def refuse(self):
        raise sa.exc.OperationalError("COMMIT", {}, Exception("database is unavailable"))

    monkeypatch.setattr(Session, "commit", refuse)
    response = file_request(client, "access")
    monkeypatch.undo()
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Request received" not in page and "nothing was stored" in page
    assert "Location" not in response.headers
    assert _requests(session) == []


def test_the_acknowledgement_letter_is_in_the_request_language_with_text_and_html(smtp, app, client, session):
    file_request(client, "erasure", lang="nb")
    run_jobs(app)
    (mail,) = smtp.wait_for(KARI["email"])
    (request,) = _requests(session)
    assert mail["Subject"] == f"Vi har mottatt forespørselen din {request.reference}"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    code = code_in(text)
    assert code in html and "Få opplysningene dine slettet" in text
    assert link_in(text).startswith("/verify/link/") and link_in(text) in html.replace("&amp;", "&")

    assert format_date(request.deadline_on, "long", locale="nb") in text
    stored = session.scalars(sa.select(Message).where(Message.template == "request_received")).one()
    assert code not in stored.body_text and stored.secret_sealed is None  # the code is never kept


def test_a_double_submitted_form_makes_one_request(client, session):
    key = "k" * 32
    first = file_request(client, "access", intake_key=key)
    second = file_request(client, "access", intake_key=key)
    assert first.status_code == second.status_code == 303
    assert len(_requests(session)) == 1


def test_objection_to_direct_marketing_is_stored_for_the_fast_path(app, client, session):
    file_request(client, "objection", processing="direct_marketing")
    (request,) = _requests(session)
    assert request.details == {"processing": DIRECT_MARKETING}
    run_jobs(app)
    (mail,) = mails_to(app, KARI["email"])
    client.post(f"/verify/{request.public_id}", data={"code": code_in(text_of(mail))})
    # Art. 21(3): no triage wait. No system here declares direct marketing, so nothing is left to stop:
    # the case is answered at once (issue 12).
    assert _requests(session)[0].status is RequestStatus.COMPLETED


def test_objection_to_other_processing_needs_which_and_why(client, session):
    page = client.post("/request/objection?lang=en", data={"processing": "other", "email": KARI["email"]})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Tell us which use of your data you object to" in html and "Tell us why you object" in html
    file_request(
        client, "objection", processing="other", processing_text="Profiling for ads", reason="It upsets me"
    )
    (request,) = _requests(session)
    assert request.details == {
        "processing": "other",
        "processing_text": "Profiling for ads",
        "reason": "It upsets me",
    }


def test_withdrawal_asks_which_consent_and_portability_the_optional_receiving_service(client, session):
    assert file_request(client, "withdraw_consent").status_code == 400
    file_request(client, "withdraw_consent", consent="The newsletter")
    file_request(client, "portability", email="ola@example.org")
    file_request(client, "portability", email="per@example.org", receiving_service="Another Bank ASA")
    assert [r.details for r in _requests(session)] == [
        {"consent": "The newsletter"},
        {},
        {"receiving_service": "Another Bank ASA"},
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "", "Enter your e-mail address"),
        ("email", "kari@", "Enter an e-mail address in the right format"),
        ("email", "kari@example.org\r\nBcc: victim@example.org", "must be on one line"),
        ("email", "k" * 250 + "@example.org", "254 characters or fewer"),
        ("phone", "12", "Enter a phone number"),
        ("phone", "+47 912 34 567\nX", "on one line"),
        ("full_name", "Kari\r\nBcc: victim@example.org", "one line"),
        ("full_name", "K" * 201, "200 characters or fewer"),
        ("consent", "Newsletter\nBcc: x@example.org", "one line"),
        ("consent", "x" * 301, "300 characters or fewer"),
        ("consent", "News\x07letter", "characters we cannot accept"),  # (a NUL byte is refused before any form)
    ],
)
def test_bad_input_gets_a_message_on_its_field_and_nothing_is_stored(client, session, field, value, message):
    data = {"email": KARI["email"], "consent": "The newsletter", field: value}
    response = file_request(client, "withdraw_consent", **data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(rf'id="{field}-error">.*{re.escape(message)}', html, re.S), html[:2000]
    assert f'href="#{field}"' in html  # the error summary links to the field
    assert _requests(session) == []


def test_over_long_free_text_is_refused(client, session):
    response = file_request(client, "rectification", wrong="x" * 2001, correct="y")
    assert response.status_code == 400 and "2000 characters or fewer" in response.get_data(as_text=True)
    assert _requests(session) == []


def test_the_phone_is_normalised_to_e164_with_norway_as_default_region(client, session):
    file_request(client, "access", phone="912 34 567")
    file_request(client, "access", email="ola@example.org", phone="+46 70 123 45 67")
    assert [r.phone for r in _requests(session)] == ["+4791234567", "+46701234567"]


def test_submit_request_is_the_service_staff_use_for_post_and_phone(app, session):
    received = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    with app.test_request_context():
        request = submit_request(
            session,
            right=Right.ACCESS,
            email="Kari.Nordmann@example.org",
            language="nb",
            channel=Channel.POST,
            received_at=received,
            actor_type="staff",
            actor_id=7,
        )
        session.commit()
        with pytest.raises(InvalidRequest) as bad:
            submit_request(
                session, right="rectification", email="nope", language="de", details={"wrong": "x"}
            )
    assert set(bad.value.errors) == {"email", "language", "correct"}
    assert request.received_at == received and request.channel is Channel.POST
    assert request.due_on.isoformat() == "2026-03-02"  # 28 Feb 2026 is a Saturday: rolled to Monday
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "request.received")).one()
    assert (event.actor_type, event.actor_id, event.details["channel"]) == ("staff", "7", "post")
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 1
