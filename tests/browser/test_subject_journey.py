"""A data subject's whole journey in a real Chromium against the live portal, its worker process and a real
SMTP server: file, prove the e-mail, prove the phone on file, see the case. axe-core checks every page."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.sync_api import expect

from dsr.links import CASE_SALT
from dsr.models import RequestStatus, SubjectRequest
from tests.browser.conftest import assert_accessible, six_digit_code
from tests.helpers.jobs import wait_until
from tests.helpers.people import KARI, OLA, use_directory

SUBJECT_LIMITS = ("code_entry_address", "resend_address", "reply_ip")


@pytest.fixture
def lookup_gate(tmp_path):
    """While this file is missing the test CRM's lookup waits, so the "checking" page is seen for sure."""
    gate = tmp_path / "lookup-gate"
    gate.touch()
    return gate


@pytest.fixture
def portal_config(portal_config, tmp_path, lookup_gate):
    use_directory(portal_config, tmp_path / "systems", {"crm": {"people": [KARI, OLA], "gate": str(lookup_gate)}})
    portal_config["RATE_LIMITS"] = {
        **portal_config["RATE_LIMITS"],
        **{name: "1000/60" for name in SUBJECT_LIMITS},
    }
    return portal_config


def _check(page, shots, name: str) -> None:
    shots(page, name)
    assert_accessible(page, name)


def _sms_code(portal, number: str, count: int = 1) -> str:
    lines = wait_until(
        lambda: [line for line in portal.sms_lines() if f"\t{number}\t" in line][count - 1 :] or None,
        timeout=30,
        message=f"SMS {count} to {number}",
    )
    return six_digit_code(lines[0].rsplit("\t", 1)[-1])


def _request(portal) -> SubjectRequest:
    with portal.session() as session:
        return session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()


def test_erasure_in_norwegian_with_the_phone_on_file(portal, page, shots):
    erasure_in_norwegian(portal, page, shots, name=KARI["name"], email=KARI["email"], phone=KARI["phone"])


def erasure_in_norwegian(portal, page, shots, *, name: str, email: str, phone: str) -> SubjectRequest:
    """File an erasure in Norwegian, prove the e-mail with the code from the real SMTP server and the
    phone ON FILE (`phone`, E.164) with the SMS code, and land on the case page with the due date."""
    page.goto(f"{portal.url}/?lang=nb")
    _check(page, shots, "start")
    page.get_by_role("button", name="Start nå").click()
    page.get_by_label("Få opplysningene dine slettet").check()
    _check(page, shots, "choose")
    page.get_by_role("button", name="Fortsett").click()

    page.get_by_label("Fullt navn").fill(name)
    page.get_by_label("E-postadresse").fill(email)
    page.get_by_label("Telefonnummer").fill("22 22 22 22")  # typed by the subject: never used for the code
    _check(page, shots, "form")
    page.get_by_role("button", name="Fortsett").click()

    expect(page.get_by_role("heading", name="Sjekk svarene dine før du sender forespørselen")).to_be_visible()
    _check(page, shots, "check-answers")
    page.get_by_role("button", name="Send forespørselen").click()

    expect(page.get_by_role("heading", name="Forespørselen er mottatt")).to_be_visible()
    reference = page.locator(".reference").inner_text()
    _check(page, shots, "received")
    mail = portal.latest_mail_text(email)
    assert reference in mail and "Koden din er" in mail
    page.get_by_label("Kode fra e-posten").fill(six_digit_code(mail))
    page.get_by_role("button", name="Bekreft").click()

    page.wait_for_url("**/phone", timeout=30_000)
    assert f"+47 *** ** {phone[-3:]}" in page.locator(".phone-masked").inner_text()
    _check(page, shots, "phone")
    code = _sms_code(portal, phone)
    assert not any("+4722222222" in line for line in portal.sms_lines())
    page.get_by_label("Kode fra SMS-en").fill(code)
    page.get_by_role("button", name="Bekreft").click()

    page.wait_for_url("**/case/*")
    request = _request(portal)
    assert request.status is RequestStatus.OPEN and request.identity_method == "email_code+sms_code"
    assert request.language == "nb"
    due = format_date(request.deadline_on, "long", locale="nb")
    assert due in page.locator(".due-date").inner_text()
    expect(page.get_by_role("heading", name="Få opplysningene dine slettet")).to_be_visible()
    _check(page, shots, "case")
    return request
    assert page.csp_violations == []


def _fill_contact(page, email: str, name: str) -> None:
    page.locator("#full_name").fill(name)
    page.locator("#email").fill(email)


@pytest.mark.parametrize("language", ["en", "nb"])
def test_every_subject_page_is_accessible(portal, page, browser, shots, language, lookup_gate):
    """Every page of the flow, including error states, links, the checking page, the case page and its
    actions, and the pages behind old links, in one language."""
    page.goto(f"{portal.url}/?lang={language}")
    _check(page, shots, "start")
    page.goto(f"{portal.url}/request")
    page.locator("form button[type=submit]").click()  # nothing chosen
    expect(page.locator(".error-summary")).to_be_visible()
    _check(page, shots, "choose-error")
    for slug in (
        "access",
        "rectification",
        "erasure",
        "restriction",
        "portability",
        "objection",
        "withdraw-consent",
    ):
        page.goto(f"{portal.url}/request/{slug}")
        _check(page, shots, f"form-{slug}")
    page.goto(f"{portal.url}/request/rectification")
    page.locator("#email").fill("not an address")
    page.locator("#phone").fill("12")
    page.locator("form button[type=submit]").click()
    assert page.locator(".error-summary li").count() == 4  # wrong, correct, email, phone
    _check(page, shots, "form-errors")

    lookup_gate.unlink()  # this request's lookup waits until the checking page has been seen
    page.goto(f"{portal.url}/request/access")
    _fill_contact(page, KARI["email"], KARI["name"])
    page.locator("form button[type=submit]").click()
    _check(page, shots, "check-answers")
    page.locator("button[name=change][value=email]").click()
    assert page.locator("#email").input_value() == KARI["email"]
    page.locator("form button[type=submit]").click()
    page.locator("form[action$='/send'] > button[type=submit]").click()
    _check(page, shots, "received")
    public_id = _request(portal).public_id

    page.goto(f"{portal.url}/verify/{public_id}")
    real = six_digit_code(portal.latest_mail_text(KARI["email"]))
    page.locator("#code").fill("000000" if real != "000000" else "111111")
    page.locator("form[action$='/" + public_id + "'] button[type=submit]").click()
    expect(page.locator(".error-summary")).to_be_visible()
    _check(page, shots, "verify-wrong-code")

    # The link in the mail opens a confirm page; its button proves the address.
    mail = portal.latest_mail_text(KARI["email"])
    link = mail[mail.index("/verify/link/") :].split()[0]
    page.goto(portal.url + link)
    _check(page, shots, "link-confirm")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/checking*")
    _check(page, shots, "checking")
    lookup_gate.touch()
    page.wait_for_url("**/phone", timeout=30_000)
    _check(page, shots, "phone")
    page.locator("#code").fill(_sms_code(portal, KARI["phone"]))
    page.locator("form[action$='/phone'] button[type=submit]").click()
    page.wait_for_url("**/case/*")
    _check(page, shots, "case")
    page.goto(portal.url + link)
    expect(page.locator("main a[href^='/verify/']")).to_be_visible()  # used: it says so, and offers the way on
    _check(page, shots, "link-used")
    page.goto(f"{portal.url}/case/{public_id}")

    page.locator("#message").fill("Please also check the newsletter list.")
    page.locator("form[action$='/reply'] button[type=submit]").click()
    expect(page.locator(".message-from-you")).to_be_visible()
    _check(page, shots, "case-after-reply")

    # A stranger's browser gets "not found" for the case.
    other = browser.new_context(locale="nb-NO" if language == "nb" else "en-GB").new_page()
    other.goto(f"{portal.url}/case/{public_id}?lang={language}")
    expect(other.locator("h1")).to_be_visible()
    _check(other, shots, "case-not-found")

    # The case link every mail carries: fresh, and too old (then a fresh code opens it).
    verified_mail = portal.latest_mail_text(KARI["email"], count=2)
    case_link = verified_mail[verified_mail.index("/case/open/") :].split()[0]
    other.goto(portal.url + case_link + f"?lang={language}")
    _check(other, shots, "case-link-confirm")
    old = _old_case_token(portal.app, public_id)
    other.goto(f"{portal.url}/case/open/{old}?lang={language}")
    _check(other, shots, "case-link-too-old")
    other.locator("main form button[type=submit]").click()
    other.wait_for_url("**/code")
    _check(other, shots, "reopen-code")
    other.locator("#code").fill(six_digit_code(portal.latest_mail_text(KARI["email"], count=3)))
    other.locator("form[action$='/code'] button[type=submit]").click()
    other.wait_for_url(f"**/case/{public_id}")
    other.context.close()

    page.goto(f"{portal.url}/case/{public_id}/withdraw")
    _check(page, shots, "withdraw-confirm")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**/case/{public_id}")
    assert _request(portal).status is RequestStatus.WITHDRAWN
    _check(page, shots, "case-withdrawn")
    assert page.csp_violations == []


def _old_case_token(app, public_id: str) -> str:
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 60 * 86400

    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=CASE_SALT, signer=LongAgo).dumps(
        {"r": public_id}
    )
