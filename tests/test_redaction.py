"""Art. 15(4): before release, staff leave other people's data out of the bundle, with a reason, through the
case page; the bundle is assembled again from the data as collected and says what was left out and why,
never the content. Real jobs on the demo systems, staff through the real pages."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from dsr.models import AuditEvent, BundleRedaction, BundleStatus, RequestStatus
from tests.helpers.bundles import (
    archive_of,
    bundles_of,
    collected,
    officer_client,
    page_text,
    records,
    released,
    verified_case,
)
from tests.helpers.export import KARI
from tests.helpers.jobs import run_jobs

MAILBOX = b"From: kari.nordmann@example.no\nSubject: Faktura\n\nHei! Ola Hansen sa at ...\n"
REASON = "Messages written by our support staff"


@pytest.fixture
def reviewed(demo_app, demo_session):
    """Kari's access case with every system collected (the mailbox as an upload), waiting for review, and an
    officer's client."""
    staff = officer_client(demo_app, demo_session)
    case = collected(demo_app, demo_session, verified_case(demo_app, demo_session, KARI), staff.user.id,
                     mailbox=MAILBOX)
    assert case.status is RequestStatus.READY_FOR_REVIEW
    return case, staff


def _agent_message_ids(archive) -> list[str]:
    return [m["id"] for m in records(archive, "data/support_chat/messages.json") if m["author"] == "agent"]


def _redact(client, case, system: str, slug: str, **form):
    return client.post(f"/staff/cases/{case.id}/bundle/redact/{system}/{slug}", data=form)


def test_a_redacted_field_and_rows_are_absent_from_the_released_bundle_which_says_what_and_why(
        demo_app, demo_session, reviewed):
    case, staff = reviewed
    before = archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.user.id)
    agents = _agent_message_ids(before)
    notes = [a["note"] for a in records(before, "data/crm/activities.json")]
    assert agents and all(notes)
    page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Leave out…" in page and "/bundle/redact/support_chat/messages" in page

    assert _redact(staff, case, "support_chat", "messages", rows=", ".join(agents), reason=REASON).status_code == 302
    run_jobs(demo_app)
    assert _redact(staff, case, "crm", "activities", fields="note",
                   reason="Our notes may name other customers").status_code == 302
    run_jobs(demo_app)
    bundle = released(demo_app, demo_session, case.id, staff.user.id)
    archive = archive_of(demo_session, bundle, staff.user.id)

    messages = records(archive, "data/support_chat/messages.json")
    assert messages and not _agent_message_ids(archive) and all(m["author"] == "customer" for m in messages)
    activities = records(archive, "data/crm/activities.json")
    assert activities and not any("note" in a for a in activities)
    assert "note" not in archive.read("data/crm/activities.csv").decode("utf-8-sig").splitlines()[0].split(",")

    listed = json.loads(archive.read("redactions.json"))
    assert {(r["system"], r["collection"], tuple(r["fields"]), r["records"], r["reason"]) for r in listed} == {
        ("support_chat", "messages", (), len(agents), REASON),
        ("crm", "activities", ("note",), 0, "Our notes may name other customers")}
    raw = archive.read("redactions.json").decode() + archive.read("index.html").decode()
    assert not any(note in raw for note in notes)  # what was left out and why, never the content
    index = page_text(archive, "index.html")
    assert "What we left out to protect other people" in index and REASON in index
    actions = demo_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)).all()
    assert actions.count("bundle.redaction_added") == 2 and actions.count("bundle.reassembled") == 2


def test_a_redaction_taken_back_puts_the_data_back_from_the_spools_as_collected(demo_app, demo_session, reviewed):
    case, staff = reviewed
    agents = _agent_message_ids(archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.user.id))
    _redact(staff, case, "support_chat", "messages", rows=agents[0], reason=REASON)
    run_jobs(demo_app)
    redaction = demo_session.scalars(sa.select(BundleRedaction)).one()
    assert agents[0] not in _agent_message_ids(
        archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.user.id))
    assert staff.post(f"/staff/cases/{case.id}/bundle/redactions/{redaction.id}/remove").status_code == 302
    run_jobs(demo_app)
    archive = archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.user.id)
    assert _agent_message_ids(archive) == agents and "redactions.json" not in archive.namelist()


@pytest.mark.parametrize(("system", "slug", "form", "message"), [
    ("support_chat", "messages", {"rows": "no_such_message", "reason": REASON}, "No record of messages has id"),
    ("support_chat", "messages", {"rows": "conv_0001_0_m1", "reason": "  "}, "Give the reason"),
    ("crm", "activities", {"reason": REASON}, "Choose the fields to remove, or name the records"),
    ("newsletter", "subscriptions", {"rows": "99", "reason": REASON}, "name records by their row number, 1 to 1"),
])
def test_bad_redaction_input_gets_a_clear_message_and_changes_nothing(demo_app, demo_session, reviewed, system,
                                                                      slug, form, message):
    case, staff = reviewed
    bundle = bundles_of(demo_session, case.id)[0]
    refused = _redact(staff, case, system, slug, **form)
    assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    assert demo_session.scalars(sa.select(BundleRedaction)).all() == []
    again = bundles_of(demo_session, case.id)[0]
    assert (again.status, again.sha256) == (BundleStatus.READY_FOR_REVIEW, bundle.sha256)


def test_an_uploaded_file_is_marked_for_checking_and_can_be_withheld_whole(demo_app, demo_session, reviewed):
    case, staff = reviewed
    page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Check for other people's data:" in page and "upload-mailbox.mbox" in page
    assert _redact(staff, case, "mailbox", "_upload", reason="Names other members").status_code == 302
    run_jobs(demo_app)
    archive = archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.user.id)
    assert not [name for name in archive.namelist() if name.startswith("data/mailbox/")]
    [entry] = json.loads(archive.read("redactions.json"))
    assert (entry["system"], entry["collection"], entry["file"], entry["reason"]) == (
        "mailbox", None, "upload-mailbox.mbox", "Names other members")
    assert MAILBOX.decode() not in archive.read("index.html").decode()


def test_a_norwegian_bundle_says_what_was_left_out_in_norwegian(demo_app, demo_session):
    staff = officer_client(demo_app, demo_session)
    case = collected(demo_app, demo_session, verified_case(demo_app, demo_session, KARI, language="nb"),
                     staff.user.id)
    _redact(staff, case, "crm", "activities", fields="note", reason="Notatene kan nevne andre kunder")
    run_jobs(demo_app)
    index = page_text(archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.user.id), "index.html")
    assert "Dette har vi utelatt for å verne andre personer" in index and "Notatene kan nevne andre kunder" in index
