"""Every channel and someone acting for another, in Chromium against the live portal (CSRF on, a worker
process, a real SMTP server), with axe-core on every new page: a lawyer files for a client in Norwegian
with the authorisation attached, an officer reads and accepts it; a letter from someone without e-mail is
registered and its acknowledgement printed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dsr.db import utcnow
from dsr.deadlines.rules import local_date
from dsr.models import AuthorisationState, RequestStatus, StaffRole, SubjectRequest
from tests.browser.conftest import assert_accessible, six_digit_code, staff_login
from tests.helpers.people import OLA, use_directory
from tests.helpers.staff import enrolled_staff

LAWYER = "rita@advokat.example"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\nFullmakt fra Ola Nordmann til Rita Advokat.\n%%EOF\n"


@pytest.fixture
def portal_config(portal_config, tmp_path):
    use_directory(portal_config, tmp_path / "systems", {"crm": {"people": [OLA]}})
    portal_config["RATE_LIMITS"] = {**portal_config["RATE_LIMITS"], "code_entry_address": "1000/60",
                                    "resend_address": "1000/60"}
    return portal_config


def _check(page, shots, name: str) -> None:
    shots(page, name)
    assert_accessible(page, name)


def _latest(portal) -> SubjectRequest:
    with portal.session() as session:
        request = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
        request.representative  # noqa: B018 (loaded before the session closes)
        session.expunge_all()
        return request


def _staff_login(page, portal) -> None:
    with portal.app.app_context(), portal.session() as session:
        _officer, secret = enrolled_staff(session, portal.app, StaffRole.OFFICER, email="officer@fjordnett.example")
    staff_login(page, portal, "officer@fjordnett.example", secret)


def test_a_lawyer_files_for_a_client_and_an_officer_accepts_the_authorisation(portal, page, shots, tmp_path):
    page.goto(f"{portal.url}/request?lang=nb")
    page.get_by_label("En annen, som jeg opptrer på vegne av", exact=False).check()
    page.get_by_label("Se hvilke opplysninger vi har om deg").check()
    _check(page, shots, "choose-someone-else")
    page.get_by_role("button", name="Fortsett").click()
    page.wait_for_url("**/request/access/for-someone-else")
    _check(page, shots, "form-someone-else")
    page.get_by_label("Personens fulle navn").fill("Ola Nordmann")
    page.get_by_label("Personens e-postadresse").fill(OLA["email"])
    page.get_by_label("Ditt eget fulle navn").fill("Rita Advokat")
    page.get_by_label("E-postadressen din").fill(LAWYER)
    page.get_by_label("Advokat eller annen fullmektig").check()
    page.get_by_role("button", name="Fortsett").click()
    _check(page, shots, "check-someone-else")
    upload = tmp_path / "fullmakt.pdf"
    upload.write_bytes(PDF)
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Send forespørselen").click()
    page.wait_for_url("**/request/received")
    _check(page, shots, "received-someone-else")
    assert "Vi kontrollerer fullmakten din før vi søker etter opplysninger om Ola Nordmann" in page.content()

    mail = portal.latest_mail_text(LAWYER)
    assert mail.startswith("Forespørsel på vegne av: Ola Nordmann")
    page.get_by_label("Kode fra e-posten").fill(six_digit_code(mail))
    page.get_by_role("button", name="Bekreft").click()
    request = _latest(portal)
    page.wait_for_url(f"**/case/{request.public_id}")
    assert request.status is RequestStatus.OPEN and request.authorisation_pending

    _staff_login(page, portal)
    page.goto(f"{portal.url}/staff/cases/{request.id}")
    assert "A representative:" in page.locator("#details-heading + dl").inner_text()
    _check(page, shots, "case-filed-by-a-representative")
    page.get_by_role("link", name="Check the authorisation").click()
    page.wait_for_url(f"**/staff/cases/{request.id}/authorisation")
    _check(page, shots, "authorisation")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the authorisation").click()
    assert download.value.suggested_filename == "authorisation-fullmakt.pdf"
    page.get_by_role("button", name="Accept the authorisation").click()
    page.wait_for_url(f"**/staff/cases/{request.id}")
    assert "Authorisation accepted" in page.locator(".notice-success").inner_text()
    assert _latest(portal).representative.state is AuthorisationState.ACCEPTED
    assert page.csp_violations == []


def test_a_letter_without_email_is_registered_and_its_acknowledgement_printed(portal, page, shots):
    _staff_login(page, portal)
    page.goto(f"{portal.url}/staff/register")
    page.get_by_label("Right asked for").select_option("erasure")
    page.get_by_label("Post", exact=True).check()
    yesterday = local_date(utcnow() - timedelta(days=1), "Europe/Oslo").isoformat()
    page.get_by_label("Date received").fill(yesterday)
    page.get_by_label("Time received (controller's local time)").fill("11:30")
    page.locator("#full_name").fill("Per Post")
    page.get_by_label("The subject's postal address").fill("Storgata 1\n0155 Oslo")
    page.get_by_label("The letter came from, and we answer to, the postal address we already hold").check()
    _check(page, shots, "register-by-post")
    page.get_by_role("button", name="Register the request").click()
    request = _latest(portal)
    page.wait_for_url(f"**/staff/cases/{request.id}")
    assert "1 letter to print and send by post" in page.content()
    _check(page, shots, "case-letters-to-post")
    page.get_by_role("link", name="Print").click()
    page.wait_for_url("**/print")
    sheet = page.locator("article.letter-sheet").inner_text()
    assert "Org.nr. 999 888 777" in sheet and "Storgata 1" in sheet and request.reference in sheet
    page.emulate_media(media="print")
    assert not page.locator(".no-print").is_visible()  # only the letter is printed
    page.emulate_media(media="screen")
    _check(page, shots, "letter-to-print")
    page.get_by_role("link", name="Back to the case").click()
    page.get_by_role("button", name="Record as sent by post").click()
    assert "Recorded as sent by post" in page.locator(".notice-success").inner_text()
    assert "to print and send by post" not in page.content()
    assert page.csp_violations == []
