"""A staff member who chose Norwegian works in Norwegian on the pages of the actions (erasure plans, their
approval, lifting a restriction, weighing an objection), the fees, the bundle's review and redaction, the
login steps after the password and their own account; the login page stays English until the person is
known, and a colleague who kept English still sees English."""
from __future__ import annotations

import pytest

from dsr.deadlines.service import refresh_deadlines
from dsr.models import RequestStatus, Right, StaffRole, SubjectRequest
from tests.helpers.answers import file_and_open
from tests.helpers.bundles import collected, verified_case
from tests.helpers.catalogue import untranslated
from tests.helpers.export import KARI
from tests.helpers.jobs import run_jobs
from tests.helpers.people import OLA, use_directory
from tests.helpers.staff import PASSWORD, enrolled_staff, fresh_code, login

ACTIONS_PANEL = '<section aria-labelledby="actions-heading" class="export-panel">'
MAILBOX = b"From: kari.nordmann@example.no\nSubject: Faktura\n\nHei! Ola Hansen sa at ...\n"


def _client(app, session, language: str | None = "nb", role: StaffRole = StaffRole.OFFICER):
    user, secret = enrolled_staff(session, app, role, language=language)
    client = app.test_client()
    login(client, user, secret)
    client.user = user
    return client


def _html(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _section(html: str, opening: str) -> str:
    """One panel of the case page, from its opening tag (the rest of the page belongs to the case area)."""
    start = html.index(opening)
    return html[start:html.index("</section>", start)]


def _erasure_case(app, session, client) -> SubjectRequest:
    case = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ERASURE, language="en", details={},
                          identity_method="email_code+sms_code")
    session.add(case)
    session.flush()
    refresh_deadlines(case, app.extensions["dsr.controller"])
    session.commit()
    assert client.post(f"/staff/cases/{case.id}/approve").status_code == 302
    run_jobs(app)
    return case


def test_only_translated_staff_texts_in_this_area():
    assert untranslated(templates=("actions", "auth", "fees", "export", "representation"),
                        code=("actions", "auth", "fees", "export", "representation")) == []


@pytest.mark.slow
def test_the_erasure_plans_and_their_approval_are_in_norwegian_for_a_norwegian_officer(demo_app, demo_session, chat):
    kari_staff = _client(demo_app, demo_session)
    case = _erasure_case(demo_app, demo_session, kari_staff)
    html = _section(_html(kari_staff, f"/staff/cases/{case.id}"), ACTIONS_PANEL)
    assert "Handlinger i de tilkoblede systemene" in html and "Planen venter på godkjenning" in html
    assert "slett 1 i contacts" in html and "slett 2 i activities" in html
    # what a hold keeps, with the ground as the controller declared it in Norwegian
    assert "Bokføringsloven § 13 annet ledd: regnskapsmateriale oppbevares" in html and "til 2026-12-31" in html
    assert "Kontroller og godkjenn planene" in html
    for english in ("Actions in the connected systems", "Plan waits for approval", "delete 1 in contacts",
                    "Review and approve the plans", "Bokføringsloven § 13 (2)"):
        assert english not in html

    page = _html(kari_staff, f"/staff/cases/{case.id}/actions/approve")
    assert "Godkjenn planene" in page and "Godkjenn og utfør" in page and "Slett" in page
    assert "Approve the plans" not in page and "Approve and carry out" not in page
    assert "Et avsnitt til brevet om utfallet (valgfritt)" in page

    lift = _html(kari_staff, f"/staff/cases/{case.id}/actions/lift")
    assert "Opphev begrensningen" in lift and "Varsle den registrerte og opphev" in lift
    assert "Lift the restriction" not in lift
    refused = kari_staff.post(f"/staff/cases/{case.id}/actions/lift", data={"reason": ""})
    assert refused.status_code == 400 and "Skriv hvorfor begrensningen opphører." in refused.get_data(as_text=True)

    objection = _html(kari_staff, f"/staff/cases/{case.id}/actions/objection")
    assert "Vurder protesten" in objection and "Tatt til følge: våre grunner går ikke foran" in objection
    assert "Weigh the objection" not in objection and "Upheld:" not in objection

    approved = kari_staff.post(f"/staff/cases/{case.id}/actions/approve", data={}, follow_redirects=True)
    assert "Godkjent: planene blir utført og kontrollert." in approved.get_data(as_text=True)

    english_colleague = _client(demo_app, demo_session, language=None)
    html = _section(_html(english_colleague, f"/staff/cases/{case.id}"), ACTIONS_PANEL)
    assert "Actions in the connected systems" in html and "Handlinger i de tilkoblede systemene" not in html
    assert "Bokføringsloven § 13 (2)" in html


@pytest.fixture
def app_config(app_config, tmp_path, request):
    if "fee_case" in request.fixturenames:
        use_directory(app_config, tmp_path / "systems", {"crm": {"name": "Test CRM", "people": [OLA]}})
    return app_config


@pytest.fixture
def fee_case(app, client, session):
    """Ola's third access request in a few minutes: a fee may be charged."""
    file_and_open(app, client, session, OLA["email"])
    file_and_open(app, client, session, OLA["email"])
    return file_and_open(app, client, session, OLA["email"])


def test_the_fee_pages_are_in_norwegian_with_the_amount_written_the_norwegian_way(app, session, fee_case):
    staff = _client(app, session)
    html = _section(_html(staff, f"/staff/cases/{fee_case.id}"), '<section aria-labelledby="fees-heading"')
    assert "Gjentatte eller overdrevne forespørsler (art. 12 nr. 5)" in html and "Krev gebyr …" in html
    assert "Repeated or excessive requests" not in html and "Charge a fee" not in html

    page = _html(staff, f"/staff/cases/{fee_case.id}/fee")
    assert "Krev gebyr" in page and "Åpenbart grunnløs eller overdreven" in page
    assert "Beløp i norske kroner (NOK)" in page and "Krev gebyret og send brevet" in page
    assert "Manifestly unfounded" not in page and "Charge the fee and send the letter" not in page
    wrong = staff.post(f"/staff/cases/{fee_case.id}/fee", data={
        "ground": "excessive", "amount": "nothing", "reason": "Third request this week.", "instructions": "Pay."})
    assert wrong.status_code == 400 and "Skriv beløpet i kroner" in wrong.get_data(as_text=True)

    charged = staff.post(f"/staff/cases/{fee_case.id}/fee", data={
        "ground": "excessive", "amount": "1250,50", "reason": "Third request this week.", "instructions": "Pay."},
        follow_redirects=True).get_data(as_text=True)
    assert "Brevet om gebyret er på vei" in charged
    charged = _section(charged, '<section aria-labelledby="fees-heading"')
    assert "Venter på betaling" in charged and "1\u00a0250,50 kr" in charged and "Registrer betalingen …" in charged
    assert "Waiting for payment" not in charged and "NOK 1,250.50" not in charged


@pytest.mark.slow
def test_the_bundle_review_and_its_redaction_are_in_norwegian(demo_app, demo_session):
    staff = _client(demo_app, demo_session)
    case = collected(demo_app, demo_session, verified_case(demo_app, demo_session, KARI), staff.user.id,
                     mailbox=MAILBOX)
    assert case.status is RequestStatus.READY_FOR_REVIEW
    html = _section(_html(staff, f"/staff/cases/{case.id}"), '<section aria-labelledby="export-heading"')
    assert "Eksport til den registrerte" in html and "klar til gjennomgang" in html
    assert "Last ned for kontroll" in html and "Frigi til den registrerte …" in html and "Utelat …" in html
    for english in ("Export to the subject", "ready for review", "Download for review", "Release to the subject",
                    "Systems covered", "Leave out…"):
        assert english not in html

    redact = _html(staff, f"/staff/cases/{case.id}/bundle/redact/crm/activities")
    assert "Utelat opplysninger fra activities" in redact and "Utelat det og sett sammen filen på nytt" in redact
    assert "Leave data out of" not in redact

    release = _html(staff, f"/staff/cases/{case.id}/bundle/release")
    assert "Frigi filen til den registrerte" in release and "Systemer som er med" in release
    assert "Release the bundle to the subject" not in release and "Bundle size" not in release


def test_the_login_page_is_english_until_the_password_step_then_the_staff_members_language(app, session):
    user, secret = enrolled_staff(session, app, language="nb")
    client = app.test_client()
    login_page = _html(client, "/staff/login")
    assert "Log in to the privacy staff area" in login_page and "Logg inn" not in login_page

    client.post("/staff/login", data={"email": user.email, "password": PASSWORD})
    code_page = _html(client, "/staff/login/code")
    assert "Skriv inn koden fra autentiseringsappen" in code_page
    assert "Enter the code from your authenticator app" not in code_page
    wrong = client.post("/staff/login/code", data={"code": "12345"})
    assert "Skriv inn de 6 sifrene som vises i autentiseringsappen." in wrong.get_data(as_text=True)
    assert client.post("/staff/login/code", data={"code": fresh_code(secret, user.id)}).status_code == 302

    password = _html(client, "/staff/account/password")
    assert "Endre passordet ditt" in password and "Nåværende passord" in password
    assert "Change your password" not in password and "Current password" not in password
    refused = client.post("/staff/account/password", data={
        "current": "not my password", "password": "a new long password here", "confirm": "a new long password here"})
    assert "Det nåværende passordet ditt er ikke riktig." in refused.get_data(as_text=True)

    again = _html(client, "/staff/reauthenticate")
    assert "Bekreft at det er deg" in again and "Confirm it is you" not in again

    client.post("/staff/logout")
    assert "You are logged out." in _html(client, "/staff/login")  # the login page is English again


def test_an_admin_who_chose_norwegian_manages_accounts_in_norwegian(app, session):
    admin = _client(app, session, role=StaffRole.ADMIN)
    colleague, _secret = enrolled_staff(session, app, email="ola@fjordnett.example")
    page = _html(admin, "/staff/accounts/")
    assert "Saksbehandler" in page and "Leser" in page  # the roles in words
    done = admin.post(f"/staff/accounts/{colleague.id}/disable", follow_redirects=True)
    assert "ola@fjordnett.example er deaktivert og logget ut overalt." in done.get_data(as_text=True)
    refused = admin.post("/staff/accounts/", data={"email": "not an address", "role": "officer"})
    assert refused.status_code == 400 and "Skriv inn en gyldig e-postadresse" in refused.get_data(as_text=True)
