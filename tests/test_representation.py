"""Someone acting for another (a parent, a guardian, a lawyer, an employer): the web form asks for whom the
request is, takes the representative's details and authorisation (sealed), sends the codes and letters to
the representative naming the subject, and searches nothing for the subject until staff accepted the
authorisation; then the subject is looked up by their own identifiers."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dsr.db import utcnow
from dsr.export import storage
from dsr.models import (
    AuditEvent,
    AuthorisationState,
    Message,
    OutboxJob,
    Relationship,
    Representative,
    RequestStatus,
    SubjectLocation,
    SubjectRequest,
    SystemTask,
    TaskState,
)
from dsr.retention.service import reduce_case
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, text_of
from tests.helpers.people import OLA, use_directory
from tests.helpers.staff import logged_in_client

RITA = {"id": 9, "email": "rita@advokat.example", "phone": "+4799988777", "name": "Rita Advokat"}
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\nFullmakt: Ola Nordmann gir Rita Advokat fullmakt.\n%%EOF\n"
ANSWERS = {
    "full_name": "Ola Nordmann",
    "email": OLA["email"],
    "phone": "",
    "rep_name": "Rita Advokat",
    "rep_email": RITA["email"],
    "relationship": "lawyer",
    "relationship_note": "Advokatfirma Lov & Rett",
}


@pytest.fixture
def app_config(app_config, tmp_path):
    # The CRM holds the subject (Ola) and, separately, the representative (Rita) as a customer of her own.
    use_directory(app_config, tmp_path / "systems", {"crm": {"name": "Test CRM", "people": [OLA, RITA]}})
    return app_config


@pytest.fixture
def officer(app, session):
    return logged_in_client(app, session)


def _send(client, right: str = "access", file: bytes = PDF, filename: str = "fullmakt.pdf", lang: str = "en",
          **changes):
    data = {**ANSWERS, **changes, "intake_key": f"key-{right}-{lang}-{len(file)}-{filename}".ljust(24, "x"),
            "authorisation": (io.BytesIO(file), filename)}
    return client.post(f"/request/{right}/for-someone-else/send?lang={lang}", data=data,
                       content_type="multipart/form-data")


def _filed(session) -> SubjectRequest:
    session.expire_all()
    return session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()


def _opened_by_the_representative(app, client, session) -> SubjectRequest:
    assert _send(client).status_code == 303
    request = _filed(session)
    run_jobs(app)
    code = code_in(text_of(mails_to(app, RITA["email"])[-1]))
    assert client.post(f"/verify/{request.public_id}?lang=en", data={"code": code}).status_code == 303
    return _filed(session)


def test_the_form_asks_first_for_whom_the_request_is(client):
    form = client.get("/request?lang=en").get_data(as_text=True).split("<form", 1)[1]
    assert form.index("Who is the request for?") < form.index("What do you want to do?")
    chosen = client.post("/request?lang=en", data={"for_whom": "someone_else", "right": "access"})
    assert chosen.headers["Location"].endswith("/request/access/for-someone-else")
    page = client.get("/request/access/for-someone-else?lang=nb").get_data(as_text=True)
    assert "Personen forespørselen gjelder" in page and "Du opptrer på vegne av personen som" in page
    assert client.post("/request?lang=en", data={"right": "access"}).headers["Location"].endswith("/request/access")


def test_the_check_page_asks_for_the_authorisation_and_keeps_the_answers(client):
    check = client.post("/request/erasure/for-someone-else?lang=en", data=ANSWERS)
    page = check.get_data(as_text=True)
    assert check.status_code == 200 and 'type="file"' in page and 'enctype="multipart/form-data"' in page
    assert "you may act for Ola Nordmann" in page and f'value="{RITA["email"]}"' in page
    missing = client.post("/request/erasure/for-someone-else?lang=en", data={**ANSWERS, "email": "", "phone": ""})
    assert missing.status_code == 400
    assert "Enter their e-mail address or phone number" in missing.get_data(as_text=True)


def test_the_authorisation_is_stored_sealed_and_the_codes_go_to_the_representative(app, client, session):
    assert _send(client).status_code == 303
    received = client.get("/request/received?lang=en").get_data(as_text=True)
    assert "We check your authorisation before we look for any data about Ola Nordmann" in received
    request = _filed(session)
    representative = request.representative
    assert (request.email, request.full_name) == (OLA["email"], "Ola Nordmann")  # the subject's identifiers
    assert (representative.name, representative.email) == ("Rita Advokat", RITA["email"])
    assert representative.relationship is Relationship.LAWYER
    assert representative.state is AuthorisationState.PENDING
    assert representative.authorisation_type == "application/pdf" and representative.authorisation_size == len(PDF)
    with storage.get_store(app).open(representative.authorisation_key) as stored:
        assert b"Fullmakt" not in stored.read()  # sealed at rest
    run_jobs(app)
    (mail,) = mails_to(app, RITA["email"])
    assert text_of(mail).startswith("Request on behalf of: Ola Nordmann")
    assert mails_to(app, OLA["email"]) == []


@pytest.mark.parametrize(
    ("file", "filename", "message"),
    [
        (b"just some text, not a PDF", "fullmakt.pdf", "must be a PDF, JPEG or PNG file"),
        (b"", "tom.pdf", "The file is empty"),
    ],
)
def test_a_file_that_is_no_authorisation_is_refused_and_nothing_is_filed(client, session, file, filename,
                                                                         message):
    response = _send(client, file=file, filename=filename)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert 'value="Ola Nordmann"' in page  # the answers are kept on the check page
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0


def test_an_authorisation_over_the_size_limit_is_refused_before_it_is_read(app, client, session):
    app.config["AUTHORISATION_MAX_BYTES"] = 1000
    response = _send(client, file=PDF + b"0" * 70_000)
    assert response.status_code == 413 and "The file is too large" in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0


def test_nothing_is_searched_for_the_subject_before_the_authorisation_is_accepted(app, client, session, officer):
    request = _opened_by_the_representative(app, client, session)
    assert request.status is RequestStatus.OPEN and request.identity_method == "email_code"
    run_jobs(app)
    jobs = session.scalars(sa.select(OutboxJob.job_name).where(OutboxJob.request_id == request.id)).all()
    assert "lookup_subject" not in " ".join(jobs)
    assert session.scalars(sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id)).all() == []

    refused = officer.post(f"/staff/cases/{request.id}/approve", follow_redirects=True)
    assert "Accept the representative&#39;s authorisation first" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(SubjectRequest, request.id).status is RequestStatus.OPEN
    assert session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request.id)).all() == []


def test_after_acceptance_the_export_finds_the_subject_by_their_own_identifiers(app, client, session, officer):
    request = _opened_by_the_representative(app, client, session)
    case_page = officer.get(f"/staff/cases/{request.id}").get_data(as_text=True)
    assert "A representative:" in case_page and "to check" in case_page

    download = officer.post(f"/staff/cases/{request.id}/authorisation/download")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert officer.post(f"/staff/cases/{request.id}/authorisation/accept").status_code == 302
    assert officer.post(f"/staff/cases/{request.id}/approve").status_code == 302
    run_jobs(app)

    session.expire_all()
    (task,) = session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request.id)).all()
    assert task.state is TaskState.DONE
    assert task.result["ref"]["keys"] == {"people.id": [OLA["id"]]}  # Ola's record, not Rita's
    assert session.get(SubjectRequest, request.id).status is RequestStatus.READY_FOR_REVIEW
    actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == request.id)).all()
    assert actions.index("authorisation.downloaded") < actions.index("authorisation.accepted") < actions.index(
        "case.approved")


def test_the_letters_go_to_the_representative_and_name_the_subject(app, client, session, officer):
    request = _opened_by_the_representative(app, client, session)
    officer.post(f"/staff/cases/{request.id}/authorisation/accept")
    officer.post(f"/staff/cases/{request.id}/ask", data={"text": "Which years does the request cover?"})
    run_jobs(app)
    mails = mails_to(app, RITA["email"])
    assert [m["Subject"] for m in mails][1:] == [f"Your request {request.reference} is confirmed",
                                                 f"We need more information for your request {request.reference}"]
    for mail in mails:
        assert text_of(mail).startswith("Request on behalf of: Ola Nordmann")
    assert "we check the authorisation you sent us" in text_of(mails[1])
    assert mails_to(app, OLA["email"]) == []


def test_a_rejected_authorisation_gets_a_letter_with_the_reason_and_changes_nothing_else(app, client, session,
                                                                                        officer):
    request = _opened_by_the_representative(app, client, session)
    before = (request.status, request.deadline_on)
    empty = officer.post(f"/staff/cases/{request.id}/authorisation/reject", data={"reason": " "})
    assert empty.status_code == 400 and "Write why the authorisation is not enough" in empty.get_data(as_text=True)
    reason = "The power of attorney is not signed by Ola Nordmann."
    assert officer.post(f"/staff/cases/{request.id}/authorisation/reject", data={"reason": reason}).status_code == 302
    run_jobs(app)

    letter = text_of(mails_to(app, RITA["email"])[-1])
    assert reason in letter and "We have not searched for or handed out any data about Ola Nordmann" in letter
    assert "Datatilsynet" in letter
    session.expire_all()
    request = session.get(SubjectRequest, request.id)
    assert (request.status, request.deadline_on) == before
    assert request.representative.state is AuthorisationState.REJECTED
    assert session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request.id)).all() == []
    assert session.scalars(sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id)).all() == []
    assert officer.post(f"/staff/cases/{request.id}/authorisation/accept").status_code == 302  # refused, said why
    session.expire_all()
    assert session.get(Representative, request.representative.id).state is AuthorisationState.REJECTED


def test_a_new_authorisation_sent_by_post_is_attached_and_checked_again(app, client, session, officer):
    request = _opened_by_the_representative(app, client, session)
    officer.post(f"/staff/cases/{request.id}/authorisation/reject", data={"reason": "Not signed."})
    first_key = _filed(session).representative.authorisation_key
    signed = PDF.replace(b"%%EOF", b"Signert: Ola Nordmann\n%%EOF")
    attached = officer.post(f"/staff/cases/{request.id}/authorisation/attach",
                            data={"file": (io.BytesIO(signed), "signert.pdf")}, content_type="multipart/form-data")
    assert attached.status_code == 302
    representative = _filed(session).representative
    assert representative.state is AuthorisationState.PENDING and representative.rejection_reason is None
    assert representative.authorisation_size == len(signed)
    with pytest.raises(FileNotFoundError):
        storage.get_store(app).open(first_key)  # the rejected file is gone


def test_staff_register_a_parent_answered_by_post_and_attach_the_authorisation_later(app, session, officer):
    form = {"right": "access", "channel": "post", "received_date": "2026-01-05", "received_time": "09:00",
            "filed_by": "representative", "full_name": "Lille Ola", "email": "", "postal_address": "",
            "phone": "", "rep_name": "Kari Forelder", "rep_email": "", "rep_postal_address": "Bakken 2\n3000 Drammen",
            "relationship": "parent", "language": "nb", "identity": "in_person"}
    assert officer.post("/staff/register", data=form, content_type="multipart/form-data").status_code == 302
    request = _filed(session)
    assert request.status is RequestStatus.OPEN and request.authorisation_pending
    assert request.representative.authorisation_key is None
    (letter,) = _letters_of(session, request.id)
    assert letter.to_address == "Bakken 2\n3000 Drammen" and letter.channel.value == "post"
    assert letter.body_text.startswith("Forespørsel på vegne av: Lille Ola")
    assert "Send oss fullmakten" in letter.body_text

    refused = officer.post(f"/staff/cases/{request.id}/authorisation/accept", follow_redirects=True)
    assert "There is no authorisation to accept" in refused.get_data(as_text=True)
    officer.post(f"/staff/cases/{request.id}/authorisation/attach",
                 data={"file": (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 64), "foreldreansvar.png")},
                 content_type="multipart/form-data")
    assert officer.post(f"/staff/cases/{request.id}/authorisation/accept").status_code == 302
    assert officer.post(f"/staff/cases/{request.id}/approve").status_code == 302
    session.expire_all()
    assert _filed(session).status is RequestStatus.IN_PROGRESS


def test_retention_removes_the_representative_and_the_authorisation_file(app, client, session, officer):
    request = _opened_by_the_representative(app, client, session)
    key = request.representative.authorisation_key
    reason = "Refused: the authorisation was never signed."
    officer.post(f"/staff/cases/{request.id}/reject", data={"reason": "identity_not_confirmed", "text": reason})
    session.expire_all()
    with app.app_context():
        assert reduce_case(session, request.id, now=utcnow() + timedelta(days=4000))
        session.commit()
    representative = session.get(Representative, _filed(session).representative.id)
    assert (representative.name, representative.email, representative.authorisation_key) == ("", None, None)
    assert representative.relationship is Relationship.LAWYER  # proof of handling: who acted, not their name
    with pytest.raises(FileNotFoundError):
        storage.get_store(app).open(key)
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "request.reduced")).one()
    assert event.details["authorisation_deleted"] is True


def _letters_of(session, request_id: int):
    session.expire_all()
    return session.scalars(sa.select(Message).where(Message.request_id == request_id).order_by(Message.id)).all()


def test_an_objection_to_direct_marketing_takes_effect_only_once_the_authorisation_is_accepted(app, client, session,
                                                                                             officer):
    assert _send(client, right="objection", processing="direct_marketing").status_code == 303
    request = _filed(session)
    run_jobs(app)
    code = code_in(text_of(mails_to(app, RITA["email"])[-1]))
    client.post(f"/verify/{request.public_id}?lang=en", data={"code": code})
    request = _filed(session)
    assert request.status is RequestStatus.OPEN  # at once for the subject themself (Art. 21(3)); not here yet

    officer.post(f"/staff/cases/{request.id}/authorisation/accept")
    session.expire_all()
    approved = session.scalars(sa.select(AuditEvent).where(AuditEvent.request_id == request.id,
                                                           AuditEvent.action == "case.approved")).one()
    assert approved.details["reason"] == "immediate_effect"
    assert _filed(session).status is not RequestStatus.OPEN


def test_a_registration_refused_after_the_authorisation_was_read_leaves_no_file_behind(app, session, officer):
    # The representative has no e-mail, so the web form's codes cannot be sent: refused after the upload.
    form = {"right": "access", "channel": "post", "received_date": "2026-01-05", "received_time": "09:00",
            "filed_by": "representative", "full_name": "Lille Ola", "rep_name": "Kari Forelder",
            "rep_postal_address": "Bakken 2\n3000 Drammen", "relationship": "parent", "language": "nb",
            "identity": "send_codes", "authorisation": (io.BytesIO(PDF), "fullmakt.pdf")}
    response = officer.post("/staff/register", data=form, content_type="multipart/form-data")
    assert response.status_code == 400 and "The codes go by e-mail" in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0
    store = storage.get_store(app)
    assert [name for folder in store.children("authorisations") for name in store.children(f"authorisations/{folder}")
            ] == []
