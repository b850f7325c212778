"""The export on the staff case page, through HTTP on the demo systems with a real RQ worker: progress
that refreshes itself while work runs, the manual system's page, review, release with a fresh login
and the letter to the subject, "retry this system", an explicit partial bundle, assembling again."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from babel.dates import format_date

from dsr.bundle.signing import installation_fingerprint
from dsr.deadlines.service import refresh_deadlines
from dsr.export import assembly
from dsr.models import (
    AuditEvent,
    BundleStatus,
    ExportBundle,
    Message,
    RequestStatus,
    Right,
    StaffRole,
    SubjectRequest,
    TaskState,
)
from dsr.notify.service import render_letter
from tests.helpers.export import KARI, bundle_zip, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import text_of
from tests.helpers.staff import enrolled_staff, login

pytestmark = pytest.mark.slow


@pytest.fixture
def officer(demo_app, demo_session):
    user, secret = enrolled_staff(demo_session, demo_app, StaffRole.OFFICER)
    client = demo_app.test_client()
    login(client, user, secret)
    client.user = user
    return client


@pytest.fixture
def approved(demo_app, demo_session, officer):
    """Kari's access case, approved through the case page (the export jobs are queued, not run)."""

    def make(language: str = "en", right: Right = Right.ACCESS) -> SubjectRequest:
        case = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=right, language=language,
                              verified_at=None, identity_method="email_code+sms_code")
        demo_session.add(case)
        demo_session.flush()
        refresh_deadlines(case, demo_app.extensions["dsr.controller"])
        demo_session.commit()
        assert officer.post(f"/staff/cases/{case.id}/approve").status_code == 302
        demo_session.expire_all()
        return case

    return make


def _page(client, case) -> str:
    response = client.get(f"/staff/cases/{case.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _row(html: str, system_name: str) -> str:
    """The text of the export table's row of one system (tags stripped)."""
    table = html.split('id="export-heading"')[1].split("</table>")[0]
    for row in table.split("<tr>")[1:]:
        if system_name in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    raise AssertionError(f"no row for {system_name}")


def _actions(session, case) -> list[str]:
    return session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)
                           .order_by(AuditEvent.seq)).all()


def _mailbox(session, case):
    return tasks_by_system(session, case.id)["mailbox"]


def _manual_url(case, task) -> str:
    return f"/staff/cases/{case.id}/tasks/{task.id}/manual"


def test_the_case_page_follows_the_export_by_itself_until_nothing_runs(demo_app, demo_session, officer, approved):
    case = approved()
    response = officer.get(f"/staff/cases/{case.id}")
    assert response.headers["Refresh"] == f"5; url=/staff/cases/{case.id}"
    html = response.get_data(as_text=True)
    assert "updates itself every 5 seconds" in html and "Stop updating this page" in html
    assert "Queued" in _row(html, "Customer register (CRM)")
    assert 'id="tasks-heading"' not in html  # the export tasks are not listed twice
    stopped = officer.get(f"/staff/cases/{case.id}?refresh=off")
    assert "Refresh" not in stopped.headers and ">Refresh</a>" in stopped.get_data(as_text=True)

    run_jobs(demo_app)
    response = officer.get(f"/staff/cases/{case.id}")
    assert "Refresh" not in response.headers  # the mailbox waits for a person: nothing runs
    html = response.get_data(as_text=True)
    assert ">Refresh</a>" in html and "Stop updating" not in html
    assert _row(html, "Customer register (CRM)").startswith("Customer register (CRM) (crm) Done 6 1")
    mailbox = _mailbox(demo_session, case)
    assert f"Waiting for staff 0 1 {mailbox.due_on.isoformat()}" in _row(html, "Shared mailbox")
    assert f'href="{_manual_url(case, mailbox)}"' in html
    assert "The bundle is assembled by itself when every system is done." in html


def test_the_manual_system_is_completed_on_its_page(demo_app, demo_session, officer, approved):
    case = approved()
    run_jobs(demo_app)
    mailbox = _mailbox(demo_session, case)
    url = _manual_url(case, mailbox)
    page = officer.get(url).get_data(as_text=True)
    assert "Search the shared mailbox post@fjordnett.example" in page and mailbox.due_on.isoformat() in page
    assert 'enctype="multipart/form-data"' in page and KARI in page

    nothing_chosen = officer.post(url, data={"outcome": "upload"}, content_type="multipart/form-data")
    assert nothing_chosen.status_code == 400
    assert "Choose the file with what you found." in nothing_chosen.get_data(as_text=True)
    unticked = officer.post(url, data={"outcome": "nothing"})
    assert unticked.status_code == 400 and "Tick the box" in unticked.get_data(as_text=True)
    empty = officer.post(url, data={"outcome": "upload", "upload-file": (io.BytesIO(b""), "mails.mbox")})
    assert empty.status_code == 400 and "The file is empty" in empty.get_data(as_text=True)
    demo_app.config["MANUAL_UPLOAD_MAX_BYTES"] = 1000
    over = officer.post(url, data={"outcome": "upload", "upload-file": (io.BytesIO(b"x" * 1500), "big.mbox")})
    assert over.status_code == 400
    assert "The file is larger than 1,000 bytes, the most you can upload." in over.get_data(as_text=True)
    far_over = officer.post(url, data={"outcome": "upload",
                                       "upload-file": (io.BytesIO(b"x" * 200_000), "huge.mbox")})
    assert far_over.status_code == 413
    assert "The file is larger than 1,000 bytes, the most you can upload." in far_over.get_data(as_text=True)
    demo_session.expire_all()
    assert _mailbox(demo_session, case).state is TaskState.WAITING_FOR_STAFF  # nothing changed

    demo_app.config["MANUAL_UPLOAD_MAX_BYTES"] = 50_000_000
    done = officer.post(url, data={"outcome": "upload",
                                   "upload-file": (io.BytesIO(b"From: kari\n\nHei!\n"), "Innboks søk.mbox")})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/staff/cases/{case.id}")
    response = officer.get(f"/staff/cases/{case.id}")
    assert response.headers["Refresh"]  # every system is done: the page follows the assembly
    html = response.get_data(as_text=True)
    assert "upload-Innboks-s-k.mbox (17 bytes) is stored for the bundle" in html
    task = _mailbox(demo_session, case)
    assert task.state is TaskState.DONE and task.result["upload"]["size"] == 17
    assert _actions(demo_session, case).count("export.manual_completed") == 1
    again = officer.get(url)
    assert again.status_code == 302 and "not waiting for staff" in _page(officer, case)

    crm = tasks_by_system(demo_session, case.id)["crm"]
    assert officer.get(_manual_url(case, crm)).status_code == 404  # not a manual system
    other = SubjectRequest(email="someone@example.no", status=RequestStatus.OPEN, right=Right.ACCESS)
    demo_session.add(other)
    demo_session.commit()
    assert officer.get(f"/staff/cases/{other.id}/tasks/{task.id}/manual").status_code == 404


def test_nothing_found_completes_the_manual_system(demo_app, demo_session, officer, approved):
    case = approved()
    run_jobs(demo_app)
    mailbox = _mailbox(demo_session, case)
    response = officer.post(_manual_url(case, mailbox), data={"outcome": "nothing", "nothing-confirm": "y"})
    assert response.status_code == 302
    assert "recorded that nothing was found" in _page(officer, case)
    demo_session.expire_all()
    task = _mailbox(demo_session, case)
    assert task.state is TaskState.DONE and task.result["nothing_found"] is True


def test_review_then_release_with_a_fresh_login_tells_the_subject(smtp, demo_app, demo_session, officer, approved):
    case = approved()
    run_jobs(demo_app)
    mailbox = _mailbox(demo_session, case)
    officer.post(_manual_url(case, mailbox), data={"outcome": "upload",
                                                  "upload-file": (io.BytesIO(b"From: kari\n"), "kari.mbox")})
    run_jobs(demo_app)

    html = _page(officer, case)
    summary = " ".join(re.sub(r"<[^>]+>", " ", html.split('class="summary compact bundle-summary"')[1]
                              .split("</dl>")[0]).split())
    assert "ready for review" in summary and "partial" not in summary
    assert "Systems covered 5 of 5" in summary and "Not collected" not in summary
    assert "data/crm/contacts.json" in html and "data/mailbox/upload-kari.mbox" in html
    assert "Download for review" in html and "Release to the subject" in html

    preview = officer.post(f"/staff/cases/{case.id}/bundle/preview")
    assert preview.status_code == 200 and preview.headers["Cache-Control"] == "no-store"
    assert preview.headers["Content-Disposition"] == f"attachment; filename={case.reference}-access.zip"
    archive = zipfile.ZipFile(io.BytesIO(preview.data))
    assert {f"systems/{key}.html" for key in ("crm", "accounting", "newsletter", "support_chat", "mailbox")} \
        <= set(archive.namelist())
    assert _actions(demo_session, case).count("bundle.previewed") == 1

    demo_app.config["STAFF_REAUTH_SECONDS"] = -1  # the login is no longer fresh
    for method in ("get", "post"):
        refused = getattr(officer, method)(f"/staff/cases/{case.id}/bundle/release")
        assert refused.status_code == 302
        assert refused.headers["Location"].endswith(
            f"/staff/reauthenticate?next=/staff/cases/{case.id}/bundle/release")
    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).status is RequestStatus.READY_FOR_REVIEW
    demo_app.config["STAFF_REAUTH_SECONDS"] = 600

    confirm = officer.get(f"/staff/cases/{case.id}/bundle/release").get_data(as_text=True)
    assert "Systems covered" in confirm and "This is a partial bundle" not in confirm
    released = officer.post(f"/staff/cases/{case.id}/bundle/release")
    assert released.status_code == 302
    assert "Released: the subject has been told by e-mail" in _page(officer, case)
    demo_session.expire_all()
    stored = demo_session.get(SubjectRequest, case.id)
    bundle = demo_session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == case.id))
    assert stored.status is RequestStatus.COMPLETED and bundle.status is BundleStatus.RELEASED
    assert bundle.released_by_id == officer.user.id
    assert _actions(demo_session, case).count("bundle.released") == 1
    assert officer.post(f"/staff/cases/{case.id}/bundle/release").status_code == 302  # twice: refused
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(Message)
                               .where(Message.template == "data_ready")) == 1

    run_jobs(demo_app)
    letter = smtp.wait_for(KARI)[-1]
    text = text_of(letter).replace("\r\n", "\n")
    assert letter["Subject"] == f"Your data is ready to download ({case.reference})"
    assert "http://localhost/case/open/" in text and "new code" in text
    assert "why we hold the data, who receives it, how long we keep it" in text and "Art. 15" in text
    local_expiry = bundle.expires_at.astimezone(ZoneInfo("Europe/Oslo"))
    assert f"{format_date(local_expiry.date(), 'long', locale='en')} at {local_expiry:%H:%M}" in text
    assert "Datatilsynet" in text
    assert installation_fingerprint(demo_app.config["SIGNING_KEY"]) in text  # to compare (issue 13, finding 4)
    assert "We found data about you in: Customer register (CRM), " in text
    assert "Shared mailbox post@fjordnett.example." in text
    assert letter.get_body(preferencelist=("html",)) is not None


def test_the_data_ready_letter_in_norwegian(demo_app):
    context = {"reference": "DSR-TEST-0001", "right_title": "Se hvilke opplysninger vi har om deg",
               "kind": "access", "partial": True, "expires_at": datetime(2026, 12, 8, 13, 3, tzinfo=UTC),
               "case_url": "https://portal.example/case/open/x", "code_minutes": 10,
               "systems": [{"name": "Kunderegister (CRM)", "outcome": "collected"},
                           {"name": "Nyhetsbrevliste", "outcome": "nothing_found"},
                           {"name": "Supportchat", "outcome": "not_collected"}], "still_owed": ["Supportchat"],
               "controller": demo_app.extensions["dsr.controller"]}
    with demo_app.test_request_context():
        subject, text, html = render_letter("data_ready", "nb", context)
    assert subject == "Opplysningene dine er klare til nedlasting (DSR-TEST-0001)"
    assert "8. desember 2026 kl. 14:03" in text and "art. 15" in text and "ny kode" in text
    assert "kunne ikke søkes gjennom i tide" in text and "https://portal.example/case/open/x" in text
    assert "Vi fant opplysninger om deg i: Kunderegister (CRM).\n" in text
    assert "Vi søkte også i Nyhetsbrevliste, og har ingen opplysninger om deg der." in text
    assert html and "Last den ned fra siden for forespørselen din" in html
    assert "<p>Supportchat kunne ikke søkes gjennom i tide." in html


def test_retry_this_system_on_the_case_page_completes_the_export(demo_app, demo_session, officer, approved, chat):
    chat.always_fail = True
    case = approved()
    run_jobs(demo_app)
    officer.post(_manual_url(case, _mailbox(demo_session, case)), data={"outcome": "nothing",
                                                                         "nothing-confirm": "y"})
    run_jobs(demo_app)
    html = _page(officer, case)
    chat_row = _row(html, "Support chat")
    assert chat_row.startswith("Support chat (support_chat) Failed 0 3 system support_chat answered lookup with "
                               "HTTP 500") and "Retry this system" in chat_row
    assert _row(html, "Customer register (CRM)").startswith("Customer register (CRM) (crm) Done")
    assert "Assemble a partial bundle" in html and "Release to the subject" not in html
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 0

    chat.always_fail = False
    task = tasks_by_system(demo_session, case.id)["support_chat"]
    response = officer.post(f"/staff/cases/{case.id}/tasks/{task.id}/retry")
    assert response.status_code == 302
    assert officer.get(f"/staff/cases/{case.id}").headers["Refresh"]  # queued again: the page follows it
    run_jobs(demo_app)
    html = _page(officer, case)
    assert _row(html, "Support chat").startswith("Support chat (support_chat) Done")
    assert "Release to the subject" in html and "Systems covered 5 of 5" in _text(html)
    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).status is RequestStatus.READY_FOR_REVIEW
    assert "task.retried" in _actions(demo_session, case)


def test_a_partial_bundle_is_chosen_on_its_own_page_with_a_warning(demo_app, demo_session, officer, approved, chat):
    chat.always_fail = True
    case = approved()
    run_jobs(demo_app)
    assert officer.get(f"/staff/cases/{case.id}/bundle/partial").status_code == 302  # the mailbox still waits
    assert "only when every system has finished" in _page(officer, case)
    officer.post(_manual_url(case, _mailbox(demo_session, case)), data={"outcome": "nothing",
                                                                         "nothing-confirm": "y"})
    run_jobs(demo_app)
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 0  # never by itself

    page = officer.get(f"/staff/cases/{case.id}/bundle/partial").get_data(as_text=True)
    assert "The bundle will not hold Support chat." in page and "HTTP 500" in page
    assert officer.post(f"/staff/cases/{case.id}/bundle/partial").status_code == 302
    assert "A partial bundle without support_chat is being assembled" in _page(officer, case)
    run_jobs(demo_app)
    html = _page(officer, case)
    assert "partial</span>" in html and "Not collected" in html and "Support chat</strong>" in html
    release = officer.get(f"/staff/cases/{case.id}/bundle/release").get_data(as_text=True)
    assert "This is a partial bundle." in release and "It does not hold Support chat" in release
    assert _actions(demo_session, case).count("bundle.partial_chosen") == 1


def test_a_failed_assembly_is_started_again_from_the_case_page(demo_app, demo_session, officer, approved,
                                                               monkeypatch):
    case = approved(right=Right.PORTABILITY)
    run_jobs(demo_app)
    original = assembly._write

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(assembly, "_write", disk_full)
    officer.post(_manual_url(case, _mailbox(demo_session, case)), data={"outcome": "nothing",
                                                                         "nothing-confirm": "y"})
    run_jobs(demo_app)
    html = _page(officer, case)
    assert "Assembling the bundle failed." in html and "Assemble the bundle again" in html

    monkeypatch.setattr(assembly, "_write", original)
    assert officer.post(f"/staff/cases/{case.id}/bundle/retry").status_code == 302
    run_jobs(demo_app)
    html = _page(officer, case)
    assert "Release to the subject" in html and "Portability (Art. 20): what the subject provided" in html
    assert _actions(demo_session, case).count("bundle.retried") == 1
    assert officer.post(f"/staff/cases/{case.id}/bundle/retry").status_code == 302  # nothing failed now
    assert "no failed bundle" in _page(officer, case)


def test_a_viewer_follows_the_export_but_cannot_act_or_see_uploaded_names(demo_app, demo_session, officer,
                                                                          approved):
    case = approved()
    run_jobs(demo_app)
    officer.post(_manual_url(case, _mailbox(demo_session, case)),
                 data={"outcome": "upload", "upload-file": (io.BytesIO(b"x"), "Kari Nordmann.pdf")})
    run_jobs(demo_app)
    user, secret = enrolled_staff(demo_session, demo_app, StaffRole.VIEWER)
    viewer = demo_app.test_client()
    login(viewer, user, secret)
    html = _page(viewer, case)
    assert "Systems covered 5 of 5" in _text(html)
    assert "data/mailbox/[uploaded file]" in html and "Kari-Nordmann" not in html
    assert "Download for review" not in html and "Release to the subject" not in html
    assert viewer.post(f"/staff/cases/{case.id}/bundle/preview").status_code == 403


def test_the_upload_page_checks_its_csrf_token_itself(demo_app, demo_session, officer, approved):
    """The page is exempt from the global check only so its own, larger upload limit applies first."""
    case = approved()
    run_jobs(demo_app)
    url = _manual_url(case, _mailbox(demo_session, case))
    demo_app.config["WTF_CSRF_ENABLED"] = True
    forged = officer.post(url, data={"outcome": "upload", "upload-file": (io.BytesIO(b"x"), "a.pdf")})
    assert forged.status_code == 400 and "The form expired" in forged.get_data(as_text=True)
    forged = officer.post(url, data={"outcome": "nothing", "nothing-confirm": "y", "nothing-csrf_token": "nope"})
    assert forged.status_code == 400
    demo_session.expire_all()
    assert _mailbox(demo_session, case).state is TaskState.WAITING_FOR_STAFF


def _partial_bundle_in_review(demo_app, demo_session, officer, approved, chat):
    """Kari's case with the support chat failing for good, the mailbox done, and a partial bundle
    assembled by staff's choice, waiting for review."""
    chat.always_fail = True
    case = approved()
    run_jobs(demo_app)
    officer.post(_manual_url(case, _mailbox(demo_session, case)), data={"outcome": "nothing",
                                                                         "nothing-confirm": "y"})
    run_jobs(demo_app)
    officer.post(f"/staff/cases/{case.id}/bundle/partial")
    run_jobs(demo_app)
    demo_session.expire_all()  # the jobs changed the case in their own sessions
    return case


def test_retrying_the_failed_system_after_a_partial_bundle_replaces_it_with_a_full_one(
        demo_app, demo_session, officer, approved, chat):
    case = _partial_bundle_in_review(demo_app, demo_session, officer, approved, chat)
    partial = demo_session.scalars(sa.select(ExportBundle)).one()
    partial_file = Path(demo_app.config["STORAGE_DIR"]) / "bundles" / partial.storage_name
    assert partial.partial and partial_file.exists()
    assert "Retry this system (replaces the partial bundle)" in _page(officer, case)

    chat.always_fail = False  # the chat service is fixed while the partial bundle waits for review
    chat_task = tasks_by_system(demo_session, case.id)["support_chat"]
    response = officer.post(f"/staff/cases/{case.id}/tasks/{chat_task.id}/retry", follow_redirects=True)
    assert "The partial bundle was discarded" in response.get_data(as_text=True)
    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).status is RequestStatus.IN_PROGRESS
    assert not partial_file.exists()  # no copy of the subject's data left behind
    run_jobs(demo_app)

    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).status is RequestStatus.READY_FOR_REVIEW
    bundle, archive, _ = bundle_zip(demo_session, case.id)
    assert not bundle.partial and "data/support_chat/messages.json" in archive.namelist()
    assert "data/crm/contacts.json" in archive.namelist()  # the systems done before kept their data
    assert _actions(demo_session, case).count("bundle.partial_discarded") == 1
