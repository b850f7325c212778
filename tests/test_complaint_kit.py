"""Issue 15: a refusal, a "no data" answer or an outcome offers the subject the whole correspondence of the case
as one self-contained, printable HTML file for a complaint to Datatilsynet, in the case's language: letters and
messages with dates, decisions with their legal ground, deadlines, the controller's and Datatilsynet's addresses;
no bearer link, no code, nothing about other people. Access exactly as the subject's case page; staff get the
same file from the case page."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from dsr import REPO_ROOT
from dsr.i18n import CATALOG_DIR
from dsr.models import AuditEvent, CaseFee, ExportBundle, StaffRole
from tests.helpers.answers import file_and_open, officer_client
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, text_of
from tests.helpers.people import KARI, OLA, use_directory

NOBODY = "nobody@example.org"
REFUSAL = {"reason": "excessive", "text": "You asked for the same copy three times this week."}


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems", {"crm": {"name": "Test CRM", "people": [KARI, OLA]}})
    return app_config


def _download(client, case):
    return client.post(f"/case/{case.public_id}/correspondence")


@pytest.mark.parametrize(("language", "expected"), [
    ("en", ["Correspondence about request", "The request is excessive, in particular because it repeats earlier "
            "requests (GDPR Article 12(5)).", "We turned down your request.", "We have received your request",
            "Our answer to your request", "Who is who", "Answer due"]),
    ("nb", ["Korrespondanse om forespørsel", "Forespørselen er urimelig, særlig fordi den gjentar tidligere "
            "forespørsler (personvernforordningen artikkel 12 nr. 5).", "Vi avslo forespørselen din.",
            "Vi har mottatt forespørselen din", "Vårt svar på forespørselen", "Hvem er hvem", "Svarfrist"]),
])
def test_the_correspondence_of_a_refused_case_downloads_with_its_legal_ground_and_no_link_or_code(
        app, client, session, language, expected):
    case = file_and_open(app, client, session, NOBODY, lang=language)
    assert "/correspondence" not in client.get(f"/case/{case.public_id}").get_data(as_text=True)
    assert _download(client, case).status_code == 404  # not while the request is open
    staff, _ = officer_client(app, session)
    assert staff.post(f"/staff/cases/{case.id}/reject", data=REFUSAL).status_code == 302
    run_jobs(app)
    refusal_mail = text_of(mails_to(app, NOBODY)[-1])
    assert "/case/open/" in refusal_mail  # the letter links to the case page, where the file is offered
    acknowledgement = text_of(mails_to(app, NOBODY)[0])

    assert f'action="/case/{case.public_id}/correspondence"' in client.get(f"/case/{case.public_id}").get_data(
        as_text=True)
    response = _download(client, case)
    assert response.status_code == 200 and response.mimetype == "text/html"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and case.reference in disposition
    kit = response.get_data(as_text=True)
    artifacts = REPO_ROOT / "test-artifacts" / "complaint-kit"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / f"refused-{language}.html").write_text(kit)  # for a human look (and a print preview)
    assert f'<html lang="{language}">' in kit
    for text in [*expected, REFUSAL["text"], case.reference, "Datatilsynet", "Postboks 458 Sentrum, 0105 Oslo",
                 "Dronningens gate 12, 0152 Oslo", "dpo@fjordnett.example"]:
        assert text in kit, text
    # No bearer link, no code, nothing loaded from elsewhere: a file to send on and print.
    assert case.public_id not in kit and "/case/open/" not in kit and "/verify/" not in kit
    assert "http://localhost" not in kit and code_in(acknowledgement) not in kit
    assert "<script" not in kit and "src=" not in kit and "<link" not in kit and "href=" not in kit
    assert "@page{size:A4" in kit and "@media print" in kit
    assert session.scalar(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)
                          .order_by(AuditEvent.seq.desc()).limit(1)) == "subject.correspondence_downloaded"


def test_only_the_browser_that_proved_the_case_gets_the_file(app, client, session):
    case = file_and_open(app, client, session, NOBODY)
    staff, _ = officer_client(app, session)
    staff.post(f"/staff/cases/{case.id}/reject", data=REFUSAL)
    assert _download(app.test_client(), case).status_code == 404
    assert app.test_client().post("/case/no-such-case/correspondence").status_code == 404
    assert _download(client, case).status_code == 200


def test_staff_download_the_same_file_from_the_case_page_and_viewers_cannot(app, client, session):
    case = file_and_open(app, client, session, NOBODY)
    staff, officer = officer_client(app, session)
    assert "Download the correspondence as one file" not in staff.get(f"/staff/cases/{case.id}").get_data(
        as_text=True)
    staff.post(f"/staff/cases/{case.id}/notes", data={"note-text": "Internal: the subject sounded upset."})
    staff.post(f"/staff/cases/{case.id}/no-data", data={"note": ""})
    case_page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Download the correspondence as one file" in case_page and "the subject sounded upset" in case_page
    staff_file = staff.post(f"/staff/cases/{case.id}/correspondence").get_data(as_text=True)
    subject_file = _download(client, case).get_data(as_text=True)
    made_on = re.compile(r"It was made on [^<]*\.")
    assert made_on.sub("", staff_file) == made_on.sub("", subject_file)
    assert "We answered: we hold no personal data about you." in staff_file and officer.display_name not in staff_file
    assert "the subject sounded upset" not in staff_file  # internal notes stay inside
    viewer, _ = officer_client(app, session, StaffRole.VIEWER)
    assert viewer.post(f"/staff/cases/{case.id}/correspondence").status_code == 403
    actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)).all()
    assert "case.correspondence_downloaded" in actions


def test_a_released_answer_and_the_fee_before_it_are_in_the_file(app, client, session):
    case = file_and_open(app, client, session, OLA["email"])
    staff, _ = officer_client(app, session)
    staff.post(f"/staff/cases/{case.id}/fee", data={"ground": "excessive", "amount": "250", "reason": "Third time.",
                                                    "instructions": "Account 1234.56.78901"})
    fee_id = session.scalar(sa.select(CaseFee.id).where(CaseFee.request_id == case.id))
    staff.post(f"/staff/cases/{case.id}/fee/{fee_id}/paid", data={})
    run_jobs(app)  # the export collects Ola's data and the bundle is assembled
    assert staff.post(f"/staff/cases/{case.id}/bundle/release").status_code == 302  # a fresh login
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == case.id))
    assert bundle.released_at is not None
    kit = _download(client, case).get_data(as_text=True)
    for text in ("We asked for a fee of NOK 250.00.", "Third time.", "We received your payment of NOK 250.00.",
                 "we waited for the fee to be paid", "We released your data to you.", "GDPR Article 15"):
        assert text in kit, text
    assert bundle.download_id not in kit


def test_every_text_of_the_file_has_a_norwegian_translation():
    translated = {}
    for path in (CATALOG_DIR / "nb" / "LC_MESSAGES").glob("*.po"):
        with open(path, "rb") as handle:
            for message in read_po(handle):
                if message.id:
                    translated[message.id if isinstance(message.id, str) else message.id[0]] = message.string
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found = [text for folder, pattern, method in ((REPO_ROOT / "dsr" / "complaint", "kit.py", "python"),
                                                   (REPO_ROOT / "templates" / "subject", "complaint_kit.html", "jinja2"))
             for _name, _line, text, _c, _ctx in extract_from_dir(str(folder), [(pattern, method)], keywords=keywords)]
    assert len(found) > 40
    missing = [text for text in found if not translated.get(text if isinstance(text, str) else text[0])]
    assert missing == []
