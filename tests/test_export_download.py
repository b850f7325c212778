"""The subject downloads the released bundle from their own case page after a fresh code from the e-mail (a case
opened with the e-mail alone; one opened with e-mail + SMS: tests/test_case_access.py);
another browser or another case gets "not found"; expired and used-up downloads say so; downloads are
rate-limited, counted, audited and never cached (S16, S29, S36)."""
from __future__ import annotations

import io
import re
import struct
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import pyzipper
import sqlalchemy as sa
import time_machine
from sqlalchemy import event, orm

from dsr import links
from dsr.db import get_db, utcnow
from dsr.export.manual import complete_manual_task
from dsr.export.offer import DownloadOffer
from dsr.export.release import release_to_subject
from dsr.models import (
    AuditEvent,
    DeliveryChannel,
    ExportBundle,
    Message,
    MessageDirection,
    RequestStatus,
    Right,
    SubjectLocation,
    SubjectRequest,
    VerificationChallenge,
)
from tests.helpers.export import KARI, approve, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, sms_lines, text_of
from tests.helpers.staff import enrolled_staff

pytestmark = pytest.mark.slow


@pytest.fixture
def released(smtp, demo_app, demo_session):
    """Kari's access case (opened with the e-mail code) with its bundle released, and a browser that opened
    the case from a letter's link."""
    session = demo_session
    case = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ACCESS, language="en",
                          identity_method="email_code")
    session.add(case)
    session.commit()
    approve(session, case)
    run_jobs(demo_app)
    complete_manual_task(session, tasks_by_system(session, case.id)["mailbox"].id, 1, nothing_found=True)
    session.commit()
    run_jobs(demo_app)
    staff, _ = enrolled_staff(session, demo_app)
    bundle = release_to_subject(session, case.id, staff.id)
    session.commit()
    run_jobs(demo_app)  # the "your data is ready" letter
    browser = demo_app.test_client()
    _open_case(demo_app, browser, case)
    return case, bundle, browser


def _open_case(app, browser, case) -> None:
    """Follow the case link of a letter to the subject (each letter's link opens the case once)."""
    with app.app_context(), get_db(app).session() as session:
        letter = Message(request_id=case.id, direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                         template="request_verified", language=case.language, to_address=case.email)
        session.add(letter)
        session.commit()
        with app.test_request_context():
            token = links.case_token(case.public_id, letter.id)
    assert browser.post(f"/case/open/{token}").status_code == 303


def _fresh_get(app, browser, url: str):
    """A GET in its own app context: flask-babel caches the locale on `g`, which the test's pushed app
    context would otherwise carry from one request to the next (a real server has one per request)."""
    with app.app_context():
        return browser.get(url)


def _url(case, bundle, tail: str = "") -> str:
    return f"/case/{case.public_id}/download/{bundle.download_id}{tail}"


def _codes_sent(session, case) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(VerificationChallenge).where(
        VerificationChallenge.request_id == case.id, VerificationChallenge.purpose == "download"))


def _download_code(smtp, count: int) -> str:
    mails = [m for m in smtp.wait_for(KARI, count=count) if "code to download" in m["Subject"]]
    return code_in(text_of(mails[-1]))


def _downloads(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(ExportBundle.download_count))


def test_the_case_page_offers_the_download_once_released(smtp, demo_app, demo_session, released):
    case, bundle, browser = released
    page = browser.get(f"/case/{case.public_id}").get_data(as_text=True)
    assert 'id="download-heading"' in page and f'href="{_url(case, bundle)}"' in page
    assert "The copy of your data is ready." in page and "we send a new code to your e-mail" in page
    norwegian = _fresh_get(demo_app, browser, f"/case/{case.public_id}?lang=nb").get_data(as_text=True)
    assert "Last ned opplysningene dine" in norwegian and "Kopien av opplysningene dine er klar." in norwegian
    download_page = _fresh_get(demo_app, browser, _url(case, bundle) + "?lang=nb").get_data(as_text=True)
    assert "Hva den inneholder" in download_page and "Send meg en kode" in download_page

    before_release = SubjectRequest(email="ola.nordmann@example.no", status=RequestStatus.IN_PROGRESS,
                                    right=Right.ACCESS)
    demo_session.add(before_release)
    demo_session.commit()
    _open_case(demo_app, browser, before_release)
    assert 'id="download-heading"' not in browser.get(f"/case/{before_release.public_id}").get_data(as_text=True)


def test_the_download_needs_a_fresh_code_from_the_e_mail(smtp, demo_app, demo_session, released, tmp_path):
    case, bundle, browser = released
    mails_before = len(smtp.to(KARI))
    page = browser.get(_url(case, bundle))
    assert page.status_code == 200 and "Send me a code" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    asked = browser.post(_url(case, bundle))
    assert asked.status_code == 303 and asked.headers["Location"].endswith(_url(case, bundle, "/code"))
    assert _downloads(demo_session) == 0
    run_jobs(demo_app)
    code = _download_code(smtp, mails_before + 1)
    again = browser.post(_url(case, bundle, "/send-code"))
    assert again.status_code == 429 and "Please wait" in again.get_data(as_text=True)

    wrong = browser.post(_url(case, bundle, "/code"), data={"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.get_data(as_text=True)
    badly_typed = browser.post(_url(case, bundle, "/code"), data={"code": "12ab"})
    assert badly_typed.status_code == 400 and "6 digits" in badly_typed.get_data(as_text=True)
    assert _downloads(demo_session) == 0

    download = browser.post(_url(case, bundle, "/code"), data={"code": code})
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert download.headers["Content-Disposition"] == f"attachment; filename={case.reference}-access.zip"
    assert download.headers["Cache-Control"] == "no-store"
    assert int(download.headers["Content-Length"]) == len(download.data) == bundle.size_bytes
    path = tmp_path / "downloaded.zip"
    path.write_bytes(download.data)
    verified = demo_app.test_cli_runner().invoke(args=["dsr", "bundle-verify", str(path)])
    assert verified.exit_code == 0 and verified.stdout.strip() == "OK"
    assert _downloads(demo_session) == 1
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "bundle.downloaded", AuditEvent.request_id == case.id)) == 1

    # Within the fresh window the same browser downloads again without a new code.
    assert "Send me a code" not in browser.get(_url(case, bundle)).get_data(as_text=True)
    assert browser.post(_url(case, bundle)).status_code == 200
    assert _downloads(demo_session) == 2 and _codes_sent(demo_session, case) == 1
    # A used code opens nothing twice.
    assert browser.post(_url(case, bundle, "/code"), data={"code": code}).status_code == 400
    with time_machine.travel(utcnow() + timedelta(minutes=11)):
        later = browser.post(_url(case, bundle))
        assert later.status_code == 303 and later.headers["Location"].endswith("/code")
    assert _downloads(demo_session) == 2 and _codes_sent(demo_session, case) == 2


def test_after_a_download_the_page_confirms_the_file_and_then_that_the_link_is_used(
        smtp, demo_app, demo_session, released):
    case, bundle, browser = released
    demo_app.config["BUNDLE_MAX_DOWNLOADS"] = 2
    assert "You downloaded" not in browser.get(_url(case, bundle)).get_data(as_text=True)
    mails_before = len(smtp.to(KARI))
    browser.post(_url(case, bundle))
    run_jobs(demo_app)
    assert browser.post(_url(case, bundle, "/code"), data={"code": _download_code(smtp, mails_before + 1)}
                        ).status_code == 200
    filename = f"{case.reference}-access.zip"
    with demo_app.test_request_context("/?lang=en"):
        from_offer = DownloadOffer(bundle, None).size_text  # the size as the page writes it
    for url in (_url(case, bundle), _url(case, bundle, "/code")):  # the page the browser stayed on, reloaded
        page = _fresh_get(demo_app, browser, url + "?lang=en").get_data(as_text=True)
        assert "You downloaded your data on" in page and f"the file {filename} ({from_offer})" in page
        assert "This link works for 1 more download." in page
    case_page = _fresh_get(demo_app, browser, f"/case/{case.public_id}?lang=en").get_data(as_text=True)
    assert f"the file {filename} ({from_offer})" in case_page  # "Back to your request" says it too
    norwegian = _fresh_get(demo_app, browser, _url(case, bundle) + "?lang=nb").get_data(as_text=True)
    assert "Du lastet ned opplysningene dine" in norwegian and filename in norwegian
    assert "Denne lenken virker for 1 nedlasting til." in norwegian

    assert browser.post(_url(case, bundle)).status_code == 200  # fresh: the last download allowed
    gone = _fresh_get(demo_app, browser, _url(case, bundle) + "?lang=en")
    text = gone.get_data(as_text=True)
    assert gone.status_code == 410 and "This link is now used: it cannot download the file again." in text
    assert filename in text
    assert "Denne lenken er nå brukt opp" in _fresh_get(demo_app, browser, _url(case, bundle) + "?lang=nb"
                                                        ).get_data(as_text=True)


def test_another_browser_or_another_case_gets_not_found(smtp, demo_app, demo_session, released):
    case, bundle, browser = released
    stranger = demo_app.test_client()
    for method, tail in (("get", ""), ("post", ""), ("get", "/code"), ("post", "/code"), ("post", "/send-code")):
        response = getattr(stranger, method)(_url(case, bundle, tail))
        assert response.status_code == 404, (method, tail)
        assert "Vi fant ikke siden" in response.get_data(as_text=True)  # the controller's default language

    other = SubjectRequest(email="ola.nordmann@example.no", status=RequestStatus.COMPLETED, right=Right.ACCESS)
    demo_session.add(other)
    demo_session.commit()
    _open_case(demo_app, stranger, other)  # the stranger proved a case of their own
    for method, tail in (("get", ""), ("post", ""), ("get", "/code"), ("post", "/code")):
        response = getattr(stranger, method)(f"/case/{other.public_id}/download/{bundle.download_id}{tail}")
        assert response.status_code == 404, (method, tail)
    for wrong in ("..%2f..%2fetc%2fpasswd", "%2e%2e%2f", "..%5c", bundle.download_id + "x", "%00"):
        assert browser.get(f"/case/{case.public_id}/download/{wrong}").status_code == 404, wrong
    assert _codes_sent(demo_session, case) == 0 and _downloads(demo_session) == 0


def test_an_expired_or_used_up_download_says_so(smtp, demo_app, demo_session, released):
    case, bundle, browser = released
    demo_app.config["BUNDLE_MAX_DOWNLOADS"] = 1
    browser.post(_url(case, bundle))
    run_jobs(demo_app)
    assert browser.post(_url(case, bundle, "/code"), data={"code": _download_code(smtp, 2)}).status_code == 200
    used_up = browser.post(_url(case, bundle))
    assert used_up.status_code == 410 and "can no longer be used" in used_up.get_data(as_text=True)
    assert browser.get(_url(case, bundle)).status_code == 410
    assert "downloaded the most times we allow" in browser.get(f"/case/{case.public_id}").get_data(as_text=True)

    demo_app.config["BUNDLE_MAX_DOWNLOADS"] = 10
    with time_machine.travel(bundle.expires_at + timedelta(minutes=1)):
        _open_case(demo_app, browser, case)
        expired = _fresh_get(demo_app, browser, _url(case, bundle) + "?lang=nb")
        assert expired.status_code == 410 and "Denne nedlastingen er utløpt" in expired.get_data(as_text=True)
        assert browser.post(_url(case, bundle)).status_code == 410
        # the visitor chose Norwegian above; back in English, the case page says it too
        assert "has expired, and the file has been deleted" in browser.get(
            f"/case/{case.public_id}?lang=en").get_data(as_text=True)


def test_downloads_are_rate_limited_per_ip(smtp, demo_app, demo_session, released):
    case, bundle, browser = released
    demo_app.config["RATE_LIMITS"] = {"download_ip": "1/3600"}
    browser.post(_url(case, bundle))
    run_jobs(demo_app)
    assert browser.post(_url(case, bundle, "/code"), data={"code": _download_code(smtp, 2)}).status_code == 200
    refused = browser.post(_url(case, bundle))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert _downloads(demo_session) == 1


def test_get_never_writes_on_the_download_pages(smtp, demo_app, demo_session, released):
    case, bundle, browser = released
    flushes: list[str] = []

    def count(session_, context, instances):
        if session_.new or session_.dirty or session_.deleted:
            flushes.append(str(list(session_.dirty or session_.new)))

    event.listen(orm.Session, "before_flush", count)
    try:
        for tail in ("", "/code"):
            assert browser.get(_url(case, bundle, tail)).status_code == 200
        assert browser.get(f"/case/{case.public_id}").status_code == 200
        assert flushes == []
    finally:
        event.remove(orm.Session, "before_flush", count)


def _phone_on_file(session, case, phone: str = "+4791234789") -> None:
    """What the intake lookup records when a connected system holds a phone for the subject."""

    session.add(SubjectLocation(request_id=case.id, system_key="crm", found=True,
                                ref={"system_key": "crm", "keys": {"contacts.id": [1]}, "phones": [phone],
                                     "emails": [KARI]}))
    session.commit()


def test_a_password_protected_copy_opens_only_with_the_password_sent_by_sms(smtp, demo_app, demo_session,
                                                                             released, tmp_path):
    """S37: WinZip-AES-256 (AE-2: no CRC in clear), one generic member name, password by SMS to the
    phone on file, no temporary file left; the signed bundle inside still verifies."""



    case, bundle, browser = released
    _phone_on_file(demo_session, case)
    page = browser.get(_url(case, bundle)).get_data(as_text=True)
    assert "Protect the ZIP file with a password" in page and "+47 *** ** 789" in page
    # WinZip AES: the page names the tools that open it, and that the old unzip does not
    assert "open it with 7-Zip, the File Explorer of Windows 11 or the Archive Utility of macOS" in page
    assert "The older unzip command" in page
    mails_before = len(smtp.to(KARI))
    assert browser.post(_url(case, bundle), data={"protect": "1"}).status_code == 303  # first a fresh code
    run_jobs(demo_app)
    code = _download_code(smtp, mails_before + 1)

    download = browser.post(_url(case, bundle, "/code"), data={"code": code})
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert download.headers["Content-Disposition"] == f"attachment; filename={case.reference}-access-protected.zip"
    assert int(download.headers["Content-Length"]) == len(download.data)
    assert not any((Path(demo_app.config["STORAGE_DIR"]) / "tmp").iterdir())  # nothing staged is left
    run_jobs(demo_app)
    line = [entry for entry in sms_lines(demo_app) if "+4791234789" in entry and "password" in entry][-1]
    password = re.search(r"\b([a-z2-9]{5}(?:-[a-z2-9]{5}){3})\b", line).group(1)
    assert "7-Zip" in line and "not with unzip" in line
    confirmed = _fresh_get(demo_app, browser, _url(case, bundle) + "?lang=en").get_data(as_text=True)
    assert f"the password-protected file {case.reference}-access-protected.zip" in confirmed
    sms = demo_session.scalars(sa.select(Message).where(Message.template == "download_password")).one()
    assert sms.secret_sealed is None and password not in (sms.body_text or "")  # not kept once sent

    data = download.data
    assert data[:4] == b"PK\x03\x04" and struct.unpack("<I", data[14:18])[0] == 0  # AE-2: CRC field zero
    with pytest.raises(RuntimeError):
        zipfile.ZipFile(io.BytesIO(data)).read("bundle.zip")  # no password
    archive = pyzipper.AESZipFile(io.BytesIO(data))
    assert archive.namelist() == ["bundle.zip"] and archive.infolist()[0].CRC == 0
    archive.setpassword(b"not-the-password")
    with pytest.raises(RuntimeError, match="Bad password"):
        archive.read("bundle.zip")
    archive.setpassword(password.encode())
    inner = tmp_path / "inner.zip"
    inner.write_bytes(archive.read("bundle.zip"))
    verified = demo_app.test_cli_runner().invoke(args=["dsr", "bundle-verify", str(inner)])
    assert verified.exit_code == 0 and verified.stdout.strip() == "OK"
    assert _downloads(demo_session) == 1
    event = demo_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "bundle.downloaded")).one()
    assert event.details["protected"] is True


def test_without_a_phone_on_file_no_protected_copy_is_offered_and_asking_for_one_changes_nothing(
        smtp, demo_app, demo_session, released):
    case, bundle, browser = released
    assert "Protect the ZIP file" not in browser.get(_url(case, bundle)).get_data(as_text=True)
    mails_before = len(smtp.to(KARI))
    browser.post(_url(case, bundle))
    run_jobs(demo_app)
    code = _download_code(smtp, mails_before + 1)
    assert browser.post(_url(case, bundle, "/code"), data={"code": code}).status_code == 200  # now fresh
    refused = browser.post(_url(case, bundle), data={"protect": "1"})  # a forged form
    assert refused.status_code == 400 and "no phone number on file" in refused.get_data(as_text=True)
    assert _downloads(demo_session) == 1  # only the plain download counted
