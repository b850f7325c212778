"""Access and portability end to end on the demo systems, with a real RQ worker on real Redis."""
from __future__ import annotations

import html
import io
import json

from dsr import REPO_ROOT
from dsr.export.manual import complete_manual_task
from dsr.models import BundleStatus, RequestStatus, Right, StaffRole, StaffUser, SubjectRequest, TaskState
from tests.helpers.export import KARI, approve, bundle_zip, tasks_by_system
from tests.helpers.jobs import run_jobs

AUTOMATED = ("crm", "accounting", "newsletter", "support_chat")


def test_an_access_request_ends_in_a_verified_bundle_covering_every_system(demo_app, demo_session, tmp_path):
    session = demo_session
    staff = StaffUser(email="officer@fjordnett.example", display_name="Officer", role=StaffRole.OFFICER,
                      password_hash="unused", must_change_password=False)
    session.add(staff)
    session.commit()
    request = make_request_in(session, right=Right.ACCESS, language="nb")
    approve(session, request)
    run_jobs(demo_app)

    tasks = tasks_by_system(session, request.id)
    assert {k: t.state for k, t in tasks.items()} == {**{k: TaskState.DONE for k in AUTOMATED},
                                                     "mailbox": TaskState.WAITING_FOR_STAFF}
    assert tasks["mailbox"].due_on is not None
    assert tasks["crm"].records == 6 and tasks["support_chat"].records > 0
    session.refresh(request)
    assert request.status is RequestStatus.IN_PROGRESS  # the bundle waits for the person searching the mailbox

    upload = io.BytesIO(b"From: kari.nordmann@example.no\nSubject: Faktura\n\nHei!\n")
    upload.filename = "mailbox export.mbox"
    complete_manual_task(session, tasks["mailbox"].id, staff.id, nothing_found=False, upload=upload)
    session.commit()
    run_jobs(demo_app)

    session.refresh(request)
    assert request.status is RequestStatus.READY_FOR_REVIEW
    bundle, archive, raw = bundle_zip(session, request.id, staff.id)
    assert bundle.status is BundleStatus.READY_FOR_REVIEW and not bundle.partial
    names = set(archive.namelist())
    for system in AUTOMATED:
        assert f"systems/{system}.html" in names
        assert any(n.startswith(f"data/{system}/") and n.endswith(".csv") for n in names), system
    assert "data/mailbox/upload-mailbox-export.mbox" in names
    assert archive.read("data/mailbox/upload-mailbox-export.mbox").startswith(b"From: kari")
    contacts = json.loads(archive.read("data/crm/contacts.json"))
    assert contacts[0]["email"] == KARI and "lead_score" in contacts[0]  # access: everything, derived too

    about = html.unescape(archive.read("about-this-data.html").decode())
    facts = json.loads(archive.read("about-this-data.json"))
    assert {s["key"] for s in facts["systems"]} == {*AUTOMATED, "mailbox"}
    for system in facts["systems"]:
        for purpose in system["facts"]["purposes"]:
            assert purpose in about
        for recipient in system["facts"]["recipients"]:
            assert recipient in about
        assert system["facts"]["retention"] in about
    assert "Datatilsynet" in about and "Formål" in about  # Norwegian: the case was filed in nb
    history = json.loads(archive.read("request-history.json"))
    assert history[0]["reference"] == request.reference

    path = tmp_path / "bundle.zip"
    path.write_bytes(raw)
    artifacts = REPO_ROOT / "test-artifacts" / "bundles"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "access-nb.zip").write_bytes(raw)  # for a human look at what a subject receives
    result = demo_app.test_cli_runner().invoke(args=["dsr", "bundle-verify", str(path)])
    assert result.exit_code == 0 and result.stdout.strip() == "OK", result.output


def test_a_portability_bundle_holds_provided_and_observed_data_but_nothing_derived(demo_app, demo_session):
    session = demo_session
    request = make_request_in(session, right=Right.PORTABILITY)
    approve(session, request)
    run_jobs(demo_app)
    mailbox = tasks_by_system(session, request.id)["mailbox"]
    complete_manual_task(session, mailbox.id, 1, nothing_found=True)
    session.commit()
    run_jobs(demo_app)

    _bundle, archive, _raw = bundle_zip(session, request.id)
    contact = json.loads(archive.read("data/crm/contacts.json"))[0]
    assert {"first_name", "email", "phone", "created_at", "id"} <= set(contact)  # provided and observed (WP242)
    assert not {"lead_score", "lifecycle_stage"} & set(contact)  # derived
    assert "processing_restricted" not in contact  # observed, but declared portable = false
    header = archive.read("data/crm/contacts.csv").decode("utf-8-sig").splitlines()[0]
    assert "lead_score" not in header and "first_name" in header
    assert not any(n.startswith("data/crm/activities") for n in archive.namelist())  # the table is not portable
    subscription = json.loads(archive.read("data/newsletter/subscriptions.json"))[0]
    assert "engagement_segment" not in subscription and "last_opened_at" in subscription
    messages = json.loads(archive.read("data/support_chat/messages.json"))
    assert messages and all({"text", "sent_at"} <= set(m) for m in messages)
    assert any(n.startswith("data/support_chat/conversations") for n in archive.namelist())
    assert "about-this-data.html" not in archive.namelist()


def make_request_in(session, **values):
    request = SubjectRequest(email=KARI.upper().replace("EXAMPLE.NO", "example.no"),
                             status=RequestStatus.OPEN, **{"language": "en", **values})
    session.add(request)
    session.commit()
    return request
