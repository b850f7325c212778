"""An access request answered end to end in Chromium on the demo systems: staff approve it, the export
runs on the real worker process (the case page follows it by itself), the shared mailbox is searched
and its result uploaded on its page, staff review and release the bundle, and the subject, from the
letter in the real SMTP sink, downloads it after a fresh code (by SMS: the case was opened with e-mail and
SMS, and the letter's link stands for the mailbox alone). The file verifies and covers all five
systems; another subject's browser given the same link gets "not found". axe-core checks every page
added for this, the subject's in English and Norwegian."""

from __future__ import annotations

import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from dsr import links
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.demo_systems.build import ensure_demo_data
from dsr.identity.lookup import locate_subject
from dsr.models import (
    DeliveryChannel,
    ExportBundle,
    Message,
    MessageDirection,
    RequestStatus,
    Right,
    StaffRole,
    SubjectRequest,
    SystemTask,
)
from tests.browser.conftest import assert_accessible, six_digit_code, staff_login
from tests.helpers.export import KARI
from tests.helpers.jobs import wait_until
from tests.helpers.mail import text_of
from tests.helpers.staff import enrolled_staff

SYSTEMS = ("crm", "accounting", "newsletter", "support_chat", "mailbox")
OTHER = "ola.other@example.no"
WAIT = 45_000  # ms: export, assembly and mail on a busy 2-core machine


@pytest.fixture
def portal_config(portal_config, chat):  # noqa: F811
    """The live portal and its worker process on the demo systems (demo data, the chat API's env)."""
    ensure_demo_data(Path(portal_config["INSTANCE_PATH"]))
    portal_config["RATE_LIMITS"] = {**portal_config["RATE_LIMITS"], "resend_address": "1000/60",
                                    "code_entry_address": "1000/60"}
    return portal_config


def _arrange(portal) -> tuple[SubjectRequest, SubjectRequest, object, str]:
    """Kari's verified access case (looked up at intake, as the lookup job does), another subject's case,
    and an officer with TOTP."""
    app = portal.app
    with app.app_context(), portal.session() as session:
        cases = []
        for email in (KARI, OTHER):
            case = SubjectRequest(email=email, right=Right.ACCESS, language="en", status=RequestStatus.OPEN,
                                  verified_at=utcnow(), identity_method="email_code+sms_code")
            session.add(case)
            session.flush()
            refresh_deadlines(case, app.extensions["dsr.controller"])
            cases.append(case)
        session.commit()
        assert locate_subject(session, cases[0].id)
        session.commit()
        officer, secret = enrolled_staff(session, app, StaffRole.OFFICER, email="officer@fjordnett.example")
        session.expunge_all()
        return cases[0], cases[1], officer, secret


def _check(page, shots, name: str) -> None:
    shots(page, name)
    assert_accessible(page, name)


def _row(page, name: str):
    return page.locator("section.export-panel tbody tr", has_text=name)


def _mail(portal, address: str, subject_part: str) -> str:
    found = wait_until(lambda: [m for m in portal.smtp.to(address) if subject_part in m["Subject"]], timeout=30,
                       message=f"a mail '{subject_part}' to {address}")
    return text_of(found[-1])


def test_staff_release_and_the_subject_downloads_after_a_fresh_code(portal, page, browser, shots, tmp_path):
    case, other_case, officer, secret = _arrange(portal)
    case_url = f"{portal.url}/staff/cases/{case.id}"

    # --- staff: approve, follow the export, search the mailbox, review, release ---------------------------
    staff_login(page, portal, officer.email, secret)
    page.goto(case_url)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(case_url)
    expect(page.locator("#export-heading")).to_be_visible()
    shots(page, "staff-export-started")
    # No reload from here on: the page's Refresh header brings every state change.
    expect(_row(page, "Shared mailbox")).to_contain_text("Waiting for staff", timeout=WAIT)
    for name in ("Customer register (CRM)", "Accounting and invoicing", "Newsletter list", "Support chat"):
        expect(_row(page, name)).to_contain_text("Done", timeout=WAIT)
    assert "refresh" not in page.request.get(case_url).headers  # nothing runs: it stops refreshing
    expect(page.get_by_role("link", name="Refresh", exact=True)).to_be_visible()
    _check(page, shots, "staff-export-waiting-for-mailbox")

    page.get_by_role("link", name=re.compile("Record what was found")).click()
    page.wait_for_url("**/manual")
    _check(page, shots, "staff-manual-task")
    page.get_by_role("button", name="Upload and mark as done").click()
    expect(page.locator(".error-summary")).to_contain_text("Choose the file with what you found.")
    _check(page, shots, "staff-manual-task-error")
    page.set_input_files("#upload-file", files=[{"name": "mailbox search.mbox", "mimeType": "application/mbox",
                                                 "buffer": b"From: kari.nordmann@example.no\nSubject: Faktura\n\nHei!\n"}])
    page.get_by_role("button", name="Upload and mark as done").click()
    page.wait_for_url(case_url)
    expect(page.locator(".notice-success")).to_contain_text("upload-mailbox-search.mbox")

    expect(page.get_by_role("link", name="Release to the subject…")).to_be_visible(timeout=WAIT)
    expect(page.locator(".bundle-summary")).to_contain_text("5 of 5")
    _check(page, shots, "staff-bundle-ready-for-review")
    with page.expect_download() as review:
        page.get_by_role("button", name="Download for review").click()
    preview = tmp_path / "review.zip"
    review.value.save_as(preview)
    assert zipfile.ZipFile(preview).read("data/mailbox/upload-mailbox-search.mbox").startswith(b"From: kari")

    page.get_by_role("link", name="Release to the subject…").click()
    page.wait_for_url("**/bundle/release")
    _check(page, shots, "staff-release-confirm")
    page.get_by_role("button", name="Release to the subject").click()
    page.wait_for_url(case_url)
    expect(page.locator(".notice-success")).to_contain_text("Released")
    _check(page, shots, "staff-released")
    assert page.csp_violations == []

    # --- the subject: the letter, the case page, a fresh code, the download ------------------------------
    letter = _mail(portal, KARI, "Your data is ready")
    assert "new code" in letter and "Art. 15" in letter
    case_link = re.search(r"https?://\S+(/case/open/\S+)", letter).group(1)
    subject = browser.new_context(locale="en-GB", accept_downloads=True).new_page()
    subject.csp_violations = []
    subject.on("console", lambda m: subject.csp_violations.append(m.text)
               if "Content Security Policy" in m.text else None)
    subject.goto(portal.url + case_link + "?lang=en")
    subject.get_by_role("button", name="Open my request").click()
    subject.wait_for_url(f"**/case/{case.public_id}")
    expect(subject.locator("#download-heading")).to_be_visible()
    _check(subject, shots, "subject-case-download-en")

    subject.get_by_role("button", name="Download your data").click()  # the link styled as a button
    subject.wait_for_url("**/download/*")
    download_url = subject.url.split("?")[0]
    _check(subject, shots, "subject-download-en")
    subject.get_by_role("button", name="Send me a code").click()
    subject.wait_for_url("**/code")
    _check(subject, shots, "subject-download-code-en")
    code = six_digit_code(wait_until(lambda: [line for line in portal.sms_lines() if "code to download" in line],
                                     timeout=30, message="the download code by SMS")[-1].rsplit("\t", 1)[-1])
    subject.locator("#code").fill("000000" if code != "000000" else "111111")
    subject.get_by_role("button", name="Download your data").click()
    expect(subject.locator(".error-summary")).to_be_visible()
    _check(subject, shots, "subject-download-code-wrong-en")
    subject.locator("#code").fill(code)
    with subject.expect_download() as downloaded:
        subject.get_by_role("button", name="Download your data").click()
    assert downloaded.value.suggested_filename == f"{case.reference}-access.zip"
    bundle_file = tmp_path / downloaded.value.suggested_filename
    downloaded.value.save_as(bundle_file)
    result = portal.app.test_cli_runner().invoke(args=["dsr", "bundle-verify", str(bundle_file)])
    assert result.exit_code == 0 and result.stdout.strip() == "OK", result.output
    names = set(zipfile.ZipFile(bundle_file).namelist())
    assert {f"systems/{key}.html" for key in SYSTEMS} <= names
    for key in SYSTEMS:
        assert any(n.startswith(f"data/{key}/") for n in names), key

    # The same pages in Norwegian (the code is fresh now: the download page offers the file at once).
    subject.goto(f"{portal.url}/case/{case.public_id}?lang=nb")
    expect(subject.locator("#download-heading")).to_have_text("Opplysningene dine")
    _check(subject, shots, "subject-case-download-nb")
    subject.goto(download_url)
    expect(subject.get_by_role("button", name="Last ned opplysningene dine")).to_be_visible()
    _check(subject, shots, "subject-download-nb")
    subject.goto(download_url + "/code")
    subject.locator("#code").fill("12")
    subject.get_by_role("button", name="Last ned opplysningene dine").click()
    expect(subject.locator(".error-summary")).to_be_visible()
    _check(subject, shots, "subject-download-code-wrong-nb")

    # --- another subject's browser, with a case of its own, given the same link: not found ----------------
    with portal.app.app_context(), portal.session() as session:
        letter = Message(request_id=other_case.id, direction=MessageDirection.TO_SUBJECT,
                         channel=DeliveryChannel.EMAIL, template="request_verified", language="en", to_address=OTHER)
        session.add(letter)
        session.commit()
        letter_id = letter.id
    with portal.app.test_request_context():
        other_link = links.case_token(other_case.public_id, letter_id)
    stranger = browser.new_context(locale="en-GB").new_page()
    stranger.goto(f"{portal.url}/case/open/{other_link}")
    stranger.get_by_role("button", name="Open my request").click()
    stranger.wait_for_url(f"**/case/{other_case.public_id}")
    response = stranger.goto(download_url + "?lang=en")
    assert response.status == 404
    expect(stranger.locator("h1")).to_contain_text("We could not find that page")
    _check(stranger, shots, "stranger-not-found")
    response = stranger.goto(download_url.replace(case.public_id, other_case.public_id))
    assert response.status == 404  # their own case, Kari's download id
    stranger.context.close()

    # --- once expired, the pages say so (en, nb) ------------------------------------------------------
    with portal.session() as session:
        session.execute(sa.update(ExportBundle).where(ExportBundle.request_id == case.id)
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
        assert session.scalar(sa.select(ExportBundle.download_count)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(SystemTask)
                              .where(SystemTask.request_id == case.id)) == len(SYSTEMS)
    for language in ("en", "nb"):
        response = subject.goto(f"{download_url}?lang={language}")
        assert response.status == 410
        _check(subject, shots, f"subject-download-expired-{language}")
        subject.goto(f"{portal.url}/case/{case.public_id}?lang={language}")
        _check(subject, shots, f"subject-case-expired-{language}")
    assert subject.csp_violations == []
    subject.context.close()
