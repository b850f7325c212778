"""Issue 15: a staff member who chose Norwegian works in Norwegian on the queue, the case page, the dashboard and
the decision forms, with the portal's codes shown as words; a colleague who kept English still reads English.
A closed case shows no "Decide" section and no days left."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from dsr.cases.opening import open_case as open_verified
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.models import RequestStatus, Right, StaffRole
from tests.helpers.catalogue import untranslated
from tests.helpers.staff import enrolled_staff, login

#: codes that must never reach a staff member's eyes as they are stored
RAW_CODES = ("awaiting_verification", "awaiting_subject", "in_progress", "withdraw_consent", "direct_marketing",
             "email_code", "manifestly_unfounded", "case.opened", "case.rejected", "to_subject")
#: English the Norwegian pages used to show
ENGLISH_CASE_PAGE = ("Back to the queue", "Audit trail", "Messages and notes", "Timeline", "Connected systems",
                     "Extension notice due", "Subject's e-mail", "days left", "Ask the subject", "Record the subject")


def visible_text(page: str) -> str:
    """What a reader sees: the page without its tags and attribute values."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


class OwnContextClient:
    """A logged-in test client whose every request runs in an app context of its own, as in production.
    The `session` fixture holds one app context for the whole test and Flask runs requests inside it,
    so `g` (and the locale Flask-Babel caches there) would be shared by the two staff members' requests."""

    def __init__(self, app, client):
        self.app, self.client = app, client

    def get(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        with self.app.app_context():
            return self.client.post(*args, **kwargs)


def _client_in(app, session, language: str | None, role: StaffRole = StaffRole.OFFICER) -> OwnContextClient:
    user, secret = enrolled_staff(session, app, role, language=language)
    client = app.test_client()
    with app.app_context():
        login(client, user, secret)
    return OwnContextClient(app, client)


@pytest.fixture
def norwegian(app, session):
    return _client_in(app, session, "nb")


@pytest.fixture
def english(app, session):
    return _client_in(app, session, None)


@pytest.fixture
def restriction_case(app, session, make_request):
    """A restriction on the ground of accuracy, verified with the e-mail code and the SMS code (audited)."""
    case = make_request(right=Right.RESTRICTION, status=RequestStatus.AWAITING_VERIFICATION,
                        details={"ground": "accuracy", "explanation": "Adressen min er feil."})
    open_verified(session, case, method="email_code+sms_code")
    session.commit()
    return case


@pytest.fixture
def open_case(app, session, make_request):
    def make(**overrides):
        case = make_request(**{"status": RequestStatus.OPEN, **overrides})
        refresh_deadlines(case, app.extensions["dsr.controller"])
        session.commit()
        return case

    return make


def test_the_queue_is_in_norwegian_with_words_for_rights_and_statuses(norwegian, open_case):
    open_case(right=Right.ERASURE)
    open_case(right=Right.WITHDRAW_CONSENT, status=RequestStatus.AWAITING_SUBJECT)
    page = visible_text(norwegian.get("/staff/").get_data(as_text=True))
    assert "Sakskøen" in page and "Dager igjen" in page and "dager igjen" in page
    assert "sletting" in page and "trekke tilbake samtykke" in page and "venter på den registrerte" in page
    assert "Last ned registeret (CSV)" in page and "Personvernteamet" in page
    for english in ("Case queue", "Days left", "days left", "Open cases", "Any right", "Overdue only",
                    "Download the register"):
        assert english not in page
    assert not [code for code in RAW_CODES if code in page]


def test_the_case_page_is_in_norwegian_in_every_state(app, session, norwegian, restriction_case, open_case):
    case_page = visible_text(norwegian.get(f"/staff/cases/{restriction_case.id}").get_data(as_text=True))
    assert "Sak " + restriction_case.reference in case_page and "Tilbake til køen" in case_page
    assert "begrensning" in case_page and "Revisjonslogg" in case_page and "Tidslinje" in case_page
    # The stored codes as words: the ground, the verification method, the audit action
    assert "den registrerte bestrider at opplysningene er riktige" in case_page
    assert "en kode sendt til e-postadressen og en SMS-kode til telefonnummeret vi har registrert" in case_page
    assert "Sak åpnet" in case_page and "dager igjen" in case_page and "Beslutt" in case_page
    assert not [text for text in ENGLISH_CASE_PAGE if text in case_page]
    assert not [code for code in RAW_CODES if code in case_page] and "accuracy" not in case_page

    awaiting = open_case(right=Right.OBJECTION, status=RequestStatus.AWAITING_SUBJECT,
                         details={"processing": "direct_marketing"})
    waiting_page = visible_text(norwegian.get(f"/staff/cases/{awaiting.id}").get_data(as_text=True))
    assert "venter på den registrerte" in waiting_page and "direkte markedsføring" in waiting_page
    assert not [code for code in RAW_CODES if code in waiting_page]

    extended = open_case(right=Right.ERASURE, status=RequestStatus.IN_PROGRESS, extended_at=utcnow(),
                         extension_months=2, extension_reason="Mange systemer.")
    refresh_deadlines(extended, app.extensions["dsr.controller"])
    session.commit()
    extended_page = visible_text(norwegian.get(f"/staff/cases/{extended.id}").get_data(as_text=True))
    assert "under arbeid" in extended_page and "Forlenget frist" in extended_page and "Merk som fullført" in extended_page
    assert "in progress" not in extended_page and "Mark as completed" not in extended_page


def test_refusing_in_norwegian_form_errors_letter_and_the_closed_case(norwegian, session, open_case):
    case = open_case(right=Right.ACCESS)
    form = visible_text(norwegian.get(f"/staff/cases/{case.id}/reject").get_data(as_text=True))
    assert "Avslå forespørselen" in form and "Grunn til avslaget" in form and "Åpenbart grunnløs (art. 12 nr. 5)" in form
    assert "Tidligere forespørsler fra denne personen" in form and "frist " in form
    for english in ("Refuse the request", "Reason for refusing", "Manifestly unfounded", "Earlier requests"):
        assert english not in form

    refused = norwegian.post(f"/staff/cases/{case.id}/reject", data={"reason": "", "text": ""})
    errors = visible_text(refused.get_data(as_text=True))
    assert refused.status_code == 400 and "Velg grunnen til avslaget." in errors
    assert "Skriv forklaringen til den registrerte." in errors and "Choose the reason" not in errors

    done = norwegian.post(f"/staff/cases/{case.id}/reject", data={"reason": "manifestly_unfounded",
                                                                  "text": "Dette er en gjentakelse."},
                          follow_redirects=True)
    closed = visible_text(done.get_data(as_text=True))
    assert "Forespørselen er avslått; brevet til den registrerte er på vei." in closed
    assert "avvist" in closed and "Åpenbart grunnløs (art. 12 nr. 5)" in closed and "Besluttet: avslått" in closed
    # Closed: nothing left to decide, no clock running
    assert "Beslutt " not in closed and "dager igjen" not in closed and "Frist for varsel om forlengelse" not in closed
    assert not [code for code in RAW_CODES if code in closed]


def test_extending_in_norwegian(norwegian, open_case):
    case = open_case(right=Right.PORTABILITY)
    form = visible_text(norwegian.get(f"/staff/cases/{case.id}/extend").get_data(as_text=True))
    assert "Forleng fristen" in form and "To måneder til: den nye fristen er" in form and "dataportabilitet" in form
    assert "Extend the deadline" not in form and "Two further months" not in form and "portability" not in form
    done = norwegian.post(f"/staff/cases/{case.id}/extend", data={"months": "1", "reason": "Mange systemer."},
                          follow_redirects=True)
    assert "Forlenget: den nye fristen er" in visible_text(done.get_data(as_text=True))


def test_the_dashboard_is_in_norwegian_with_norwegian_figures(app, norwegian, open_case, make_request):
    now = utcnow()
    for days in (10, 21):
        make_request(right=Right.ERASURE, status=RequestStatus.COMPLETED, received_at=now - timedelta(days=days + 5),
                     closed_at=now - timedelta(days=5))
    open_case()
    page = visible_text(norwegian.get("/staff/dashboard").get_data(as_text=True))
    assert "Oversikt" in page and "åpen sak" in page and "over fristen" in page and "Tilkoblede systemer" in page
    assert "15,5 dager" in page  # the median of 10 and 21 days, with a decimal comma
    for english in ("open case", "overdue", "Median days", "Connected systems", "none closed"):
        assert english not in page


def test_an_english_colleague_still_reads_english_and_a_closed_case_asks_nothing(english, open_case, session):
    running = open_case(right=Right.ERASURE)
    closed = open_case(right=Right.ACCESS, status=RequestStatus.COMPLETED, closed_at=utcnow())
    queue = visible_text(english.get("/staff/").get_data(as_text=True))
    assert "Case queue" in queue and "days left" in queue and "erasure" in queue and "Sakskøen" not in queue

    page = visible_text(english.get(f"/staff/cases/{running.id}").get_data(as_text=True))
    assert "Audit trail" in page and "Decide" in page and "days left" in page and "Revisjonslogg" not in page

    done = english.get(f"/staff/cases/{closed.id}").get_data(as_text=True)
    assert 'id="actions-heading"' not in done
    done_text = visible_text(done)
    assert "Decide" not in done_text and "days left" not in done_text and "completed" in done_text


def test_every_staff_case_text_has_a_norwegian_translation():
    assert untranslated(templates=("cases", "staff"), code=("cases",)) == []
