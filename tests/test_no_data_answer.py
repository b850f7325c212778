"""Issue 15: "we hold no data about you" is an answer, not a refusal. An officer completes an access or
portability case with a letter naming the systems searched, what the portal keeps of the request itself, and
the right to complain to Datatilsynet and the courts; only once every system was searched and none holds data."""
from __future__ import annotations

import pytest

from dsr.models import RequestStatus, Right, SubjectRequest
from tests.helpers.answers import audit_actions, file_and_open, letters, officer_client
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import mails_to, text_of
from tests.helpers.people import KARI, OLA, use_directory

NOBODY = "nobody@example.org"


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems", {"crm": {"name": "Test CRM", "people": [KARI, OLA]},
                                                     "newsletter": {"name": "Newsletter", "people": [OLA]}})
    return app_config


@pytest.mark.parametrize(("language", "says"), [
    ("en", ["None of them holds any personal data about you", "Test CRM, Newsletter", "Datatilsynet",
            "Postboks 458 Sentrum, 0105 Oslo", "take the matter to court", "3 years after the request is closed",
            "Have you used another address? Send a new request with it."]),
    ("nb", ["Ingen av dem inneholder personopplysninger om deg", "Test CRM, Newsletter", "Datatilsynet",
            "Postboks 458 Sentrum, 0105 Oslo", "bringe saken inn for domstolene", "3 år etter at forespørselen",
            "Have you used another address? Send a new request with it."]),
])
def test_an_access_request_for_an_address_no_system_knows_is_answered_with_the_no_data_letter_not_a_refusal(
        app, client, session, language, says):
    case = file_and_open(app, client, session, NOBODY, lang=language)
    staff, officer = officer_client(app, session)
    page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Answer: we hold no data about the subject" in page and "nothing found: Test CRM, Newsletter" in page

    response = staff.post(f"/staff/cases/{case.id}/no-data", data={"note": says[-1]})
    assert response.status_code == 302
    session.expire_all()
    case = session.get(SubjectRequest, case.id)
    assert case.status is RequestStatus.COMPLETED and case.rejection_code is None
    assert case.answered_no_data_at is not None and case.closed_at is not None
    assert letters(session, case, "case_rejected") == []
    (letter,) = letters(session, case, "no_data_held")
    assert letter.language == language
    for text in says:
        assert text in letter.body_text, text
    assert audit_actions(session, case)[-1] == "case.answered_no_data"

    run_jobs(app)
    assert any(says[0] in text_of(m) for m in mails_to(app, NOBODY))
    subject_page = client.get(f"/case/{case.public_id}").get_data(as_text=True)
    assert ("Answered" if language == "en" else "Besvart") in subject_page
    # Answered before any approval: nothing was "started", the answer was given.
    assert "We started carrying out" not in subject_page and "Vi begynte å gjennomføre" not in subject_page
    assert ("Download the correspondence" if language == "en" else "Last ned korrespondansen") in subject_page


def test_a_portability_request_for_an_unknown_address_gets_the_same_answer(app, client, session):
    case = file_and_open(app, client, session, NOBODY, right="portability")
    staff, _ = officer_client(app, session)
    assert staff.post(f"/staff/cases/{case.id}/no-data", data={}).status_code == 302
    (letter,) = letters(session, case, "no_data_held")
    assert "there is no data you gave us that we could send you or another service" in letter.body_text


def test_the_answer_is_refused_while_a_system_holds_data_about_the_subject(app, client, session):
    case = file_and_open(app, client, session, OLA["email"])
    staff, _ = officer_client(app, session)
    assert "Answer: we hold no data about the subject" not in staff.get(f"/staff/cases/{case.id}").get_data(
        as_text=True)
    response = staff.post(f"/staff/cases/{case.id}/no-data", data={})
    assert response.status_code == 400
    assert "Test CRM, Newsletter hold data about the subject: answer with their data." in response.get_data(
        as_text=True)
    session.expire_all()
    assert session.get(SubjectRequest, case.id).status is RequestStatus.OPEN
    assert letters(session, case, "no_data_held") == []


def test_no_data_held_is_no_longer_a_refusal_reason_and_old_refusals_keep_their_reason(app, session, make_request):
    staff, _ = officer_client(app, session)
    case = make_request(right=Right.ACCESS)
    form = staff.get(f"/staff/cases/{case.id}/reject").get_data(as_text=True)
    assert 'value="excessive"' in form and 'value="no_data_held"' not in form
    response = staff.post(f"/staff/cases/{case.id}/reject", data={"reason": "no_data_held", "text": "Nothing."})
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(SubjectRequest, case.id).status is RequestStatus.OPEN

    old = make_request(status=RequestStatus.REJECTED, rejection_code="no_data_held", rejection_text="None found.")
    assert "no data held" in staff.get(f"/staff/cases/{old.id}").get_data(as_text=True)


def test_a_portability_export_that_kept_nothing_is_no_no_data_answer_when_the_system_holds_the_subject(
        app, client, session):
    """Portability exports only what the subject provided: Ola's CRM record is there, though none of it is."""
    case = file_and_open(app, client, session, OLA["email"], right="portability")
    staff, _ = officer_client(app, session)
    staff.post(f"/staff/cases/{case.id}/approve")
    run_jobs(app)
    session.expire_all()
    assert session.get(SubjectRequest, case.id).status is RequestStatus.READY_FOR_REVIEW
    response = staff.post(f"/staff/cases/{case.id}/no-data", data={})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Test CRM, Newsletter hold data about the subject" in page
    assert letters(session, case, "no_data_held") == []
