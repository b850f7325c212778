"""Issue 14's acceptance: the demo switched to the ready-made templates, each on its vendor's stand-in, with
real workers on the test Redis. An access request gathers from every system into the bundle; an erasure
reaches each through its own deletion mechanism (or a task for a person where there is none) and the
outcome letter names every system; a 429 with Retry-After is waited out, an expired token is refreshed
once and the job goes on, and a wrong credential is a clear error on that system's task."""
from __future__ import annotations

import json

import sqlalchemy as sa

from dsr import create_app
from dsr.actions.approval import approve_plans, confirm_by_hand
from dsr.db import get_db
from dsr.demo_systems.vendors.ga4 import PROPERTY
from dsr.demo_systems.vendors.mailchimp import LIST_ID, subscriber_hash
from dsr.export.manual import complete_manual_task
from dsr.models import Message, RequestStatus, Right, SubjectRequest, SystemTask, TaskAction, TaskState
from tests.helpers.export import KARI, approve, bundle_zip, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.staff import officer
from tests.helpers.vendors import write_vendors_file

CLIENT_ID = "1234567890.1700000000"
AUTOMATED = ("crm", "newsletter", "support", "app_chat", "accounting", "mailbox", "analytics")
BY_PERSON = ("meta_pixel", "linkedin")


def _case(session, right: Right, language: str = "en", **details) -> SubjectRequest:
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=right, language=language,
                             details={"ga_client_id": CLIENT_ID, **details})
    session.add(request)
    session.commit()
    approve(session, request)
    return request


def _tasks(session, request, action: TaskAction) -> dict[str, SystemTask]:
    session.expire_all()
    return {t.system_key: t for t in session.scalars(sa.select(SystemTask).where(
        SystemTask.request_id == request.id, SystemTask.action == action))}


def test_an_access_request_gathers_from_every_template_into_the_bundle(vendor_app, vendor_session, vendors):
    session = vendor_session
    staff = officer(session)
    request = _case(session, Right.ACCESS)
    run_jobs(vendor_app)

    tasks = tasks_by_system(session, request.id)
    assert {k: t.state for k, t in tasks.items()} == {**dict.fromkeys(AUTOMATED, TaskState.DONE),
                                                     **dict.fromkeys(BY_PERSON, TaskState.WAITING_FOR_STAFF)}, \
        {k: t.last_error for k, t in tasks.items()}
    for key in BY_PERSON:  # no per-person API: a person confirms, and the bundle says what the vendor holds
        complete_manual_task(session, tasks[key].id, staff.id, nothing_found=True)
    session.commit()
    run_jobs(vendor_app)

    session.refresh(request)
    assert request.status is RequestStatus.READY_FOR_REVIEW
    bundle, archive, _raw = bundle_zip(session, request.id, staff.id)
    names = set(archive.namelist())
    expected = {"crm": ("contact", "companies", "notes", "emails", "deals"), "newsletter": ("member", "activity", "tags"),
                "support": ("user", "tickets", "comments"), "app_chat": ("contact", "conversations"),
                "accounting": ("customer", "invoices"), "mailbox": ("messages",), "analytics": ("client_id",)}
    for system, collections in expected.items():
        for collection in collections:
            assert f"data/{system}/{collection}.json" in names, (system, collection)
    for system in (*AUTOMATED, *BY_PERSON):
        assert f"systems/{system}.html" in names
    contact = json.loads(archive.read("data/crm/contact.json"))[0]
    assert contact["email"] == KARI and "hubspotscore" in contact  # HubSpot's properties, flattened
    assert len(json.loads(archive.read("data/accounting/invoices.json"))) == 8  # offset pages of Tripletex
    assert json.loads(archive.read("data/analytics/client_id.json"))[0]["client_id"] == CLIENT_ID
    messages = json.loads(archive.read("data/mailbox/messages.json"))
    assert len(messages) == 4 and all("webLink" in m for m in messages)  # two pages of Graph's $search
    about = json.loads(archive.read("about-this-data.json"))
    facts = {s["key"]: s["facts"] for s in about["systems"]}  # the systems holding data, with their facts
    assert "meta_pixel" in {s["key"] for s in about["systems_without_data"]}  # searched, held nothing: named
    assert "bokføringsloven" in facts["accounting"]["retention"]
    assert ("GET", "/v1.0/users/post@fjordnett.example/messages") in vendors["graph"].calls


def test_an_erasure_reaches_each_system_through_its_own_mechanism_and_the_letter_names_them(
        smtp, vendor_app, vendor_session, vendors):
    session = vendor_session
    staff = officer(session)
    zendesk = vendors["zendesk"]
    tickets = sum(1 for t in zendesk.tickets.values() if zendesk.users[t["requester_id"]]["email"] == KARI)
    request = _case(session, Right.ERASURE, language="nb")
    run_jobs(vendor_app)

    erase = _tasks(session, request, TaskAction.ERASE)
    assert {k: t.state for k, t in erase.items()} == {
        **dict.fromkeys(("crm", "newsletter", "support", "app_chat", "accounting", "analytics"),
                        TaskState.AWAITING_APPROVAL),
        **dict.fromkeys(("mailbox", *BY_PERSON), TaskState.WAITING_FOR_STAFF)}, \
        {k: t.last_error for k, t in erase.items()}
    kept = erase["accounting"].result["plan"]["kept"]
    assert [(k["collection"], k["until"]) for k in kept] == [("customer", "2031-12-31"), ("invoices", "2031-12-31")]
    assert all("Bokføringsloven § 13" in k["ground"] for k in kept) and not erase["accounting"].result["plan"]["changes"]
    checklist = erase["mailbox"].result["checklist"]
    assert checklist[0].startswith("E-mail (Microsoft 365) does not do this by itself")
    assert sum("outlook.office365.com" in step for step in checklist) == 4  # every message found, listed
    assert any("no way to delete one person's pixel events" in step for step in erase["meta_pixel"].result["checklist"])

    with vendor_app.app_context():
        assert approve_plans(session, request, actor=staff, values={}, note="", four_eyes=False) == "applied"
        session.commit()
    run_jobs(vendor_app)

    erase = _tasks(session, request, TaskAction.ERASE)
    for key in ("crm", "newsletter", "support", "app_chat", "accounting", "analytics"):
        assert erase[key].state is TaskState.DONE, (key, erase[key].last_error)
        assert erase[key].result["proof"]["ok"], (key, erase[key].result["proof"])
    hubspot = vendors["hubspot"]
    assert ("POST", "/crm/v3/objects/contacts/gdpr-delete") in hubspot.calls
    assert not any(c["properties"]["email"] == KARI for c in hubspot.objects["contacts"].values())
    assert hubspot.objects["companies"]  # shared records stay, shown as kept
    assert subscriber_hash(KARI) in vendors["mailchimp"].deleted
    assert ("POST", f"/3.0/lists/{LIST_ID}/members/{subscriber_hash(KARI)}/actions/delete-permanent") \
        in vendors["mailchimp"].calls
    deletes = [path for method, path in zendesk.calls if method == "DELETE"]
    assert [p.split("/")[3] for p in deletes] == ["tickets"] * tickets + ["deleted_tickets"] * tickets + ["users",
                                                                                                       "deleted_users"]
    assert not any(u["email"] == KARI for u in zendesk.users.values())
    assert not any(c["email"] == KARI for c in vendors["intercom"].contacts.values())
    assert vendors["ga4"].deletions == [(PROPERTY, CLIENT_ID)]
    assert not any(method != "GET" for method, path in vendors["tripletex"].calls if "/customer/" in path)
    assert vendors["tripletex"].customers[1001]["email"] == KARI  # kept under the bookkeeping hold

    with vendor_app.app_context():
        for key in ("mailbox", *BY_PERSON):
            confirm_by_hand(session, request, erase[key], actor=staff, note="Done as the checklist says")
        session.commit()
    run_jobs(vendor_app)
    session.refresh(request)
    assert request.status is RequestStatus.COMPLETED
    letter = session.scalars(sa.select(Message).where(Message.request_id == request.id,
                                                      Message.template == "action_outcome")).one()
    for name in ("HubSpot CRM", "Nyhetsbrev (Mailchimp)", "Kundestøtte (Zendesk)", "Supportchat (Intercom)",
                 "Regnskap (Tripletex)", "E-post (Microsoft 365)", "Nettstedsstatistikk (Google Analytics)",
                 "Annonser på Facebook og Instagram (Meta Pixel)", "Annonser på LinkedIn (Insight Tag)"):
        assert name in letter.body_text, name
    assert "Bokføringsloven § 13 annet ledd" in letter.body_text and "2031" in letter.body_text
    smtp.wait_for(KARI)


def test_an_objection_to_direct_marketing_unsubscribes_where_the_vendor_offers_it(vendor_app, vendor_session,
                                                                                   vendors):
    session = vendor_session
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.OBJECTION, language="en",
                             details={"processing": "direct_marketing"})
    session.add(request)
    session.commit()
    approve(session, request)
    run_jobs(vendor_app)

    tasks = _tasks(session, request, TaskAction.OBJECT)
    assert {k: t.state for k, t in tasks.items()} == {
        "crm": TaskState.DONE, "newsletter": TaskState.DONE, "app_chat": TaskState.DONE}, \
        {k: t.last_error for k, t in tasks.items()}
    assert vendors["mailchimp"].members[subscriber_hash(KARI)]["status"] == "unsubscribed"
    assert (KARI, "7390127") in vendors["hubspot"].unsubscribed
    assert next(c for c in vendors["intercom"].contacts.values() if c["email"] == KARI)["unsubscribed_from_emails"]


def test_a_withdrawn_consent_stops_by_api_or_goes_to_a_person_who_is_told_why(vendor_app, vendor_session, vendors):
    session = vendor_session
    newsletter = _case(session, Right.WITHDRAW_CONSENT, consent="newsletter")
    analytics = _case(session, Right.WITHDRAW_CONSENT, consent="web_analytics")
    run_jobs(vendor_app)
    [stopped] = _tasks(session, newsletter, TaskAction.WITHDRAW_CONSENT).values()
    assert (stopped.system_key, stopped.state) == ("newsletter", TaskState.DONE)
    assert vendors["mailchimp"].members[subscriber_hash(KARI)]["status"] == "unsubscribed"
    [by_hand] = _tasks(session, analytics, TaskAction.WITHDRAW_CONSENT).values()
    assert (by_hand.system_key, by_hand.state) == ("analytics", TaskState.WAITING_FOR_STAFF)
    assert any("withdrawn in our cookie banner" in step for step in by_hand.result["checklist"])


def test_a_restriction_marks_the_record_where_the_vendor_can(vendor_app, vendor_session, vendors):
    session = vendor_session
    staff = officer(session)
    request = _case(session, Right.RESTRICTION, ground="accuracy")
    run_jobs(vendor_app)
    with vendor_app.app_context():
        approve_plans(session, request, actor=staff, values={}, note="", four_eyes=False)
        session.commit()
    run_jobs(vendor_app)
    tasks = _tasks(session, request, TaskAction.RESTRICT)
    assert tasks["crm"].state is TaskState.DONE and tasks["accounting"].state is TaskState.DONE, \
        {k: t.last_error for k, t in tasks.items()}
    kari = next(c for c in vendors["hubspot"].objects["contacts"].values() if c["properties"]["email"] == KARI)
    assert kari["properties"]["dsr_processing_restricted"] == "true"
    assert vendors["tripletex"].customers[1001]["isInactive"] is True
    assert tasks["mailbox"].state is TaskState.WAITING_FOR_STAFF
    assert any("folder only the privacy officer" in step for step in tasks["mailbox"].result["checklist"])


def test_a_429_with_retry_after_is_waited_out_and_an_expired_token_is_refreshed_within_the_job(
        vendor_app, vendor_session, vendors):
    session = vendor_session
    request = _case(session, Right.ACCESS)
    zendesk, graph = vendors["zendesk"], vendors["graph"]
    zendesk.throttle, zendesk.retry_after = 1, 1
    graph.throttle = 1
    graph.tokens.lifetime = 3599
    run_jobs(vendor_app)
    tasks = tasks_by_system(session, request.id)
    for key in ("support", "mailbox"):
        assert tasks[key].state is TaskState.DONE and tasks[key].attempts == 1, (key, tasks[key].last_error)
    assert zendesk.throttle == 0 and graph.throttle == 0  # each answered 429 once, and was asked again
    assert zendesk.calls.count(("GET", "/api/v2/users/search")) == 2
    token_requests = [path for method, path in graph.calls if path.endswith("/token")]

    # The token expires early (revoked, or the clock of the issuer ran ahead): one 401, one new token.
    graph.tokens.expire_all()
    again = _case(session, Right.ACCESS)
    run_jobs(vendor_app)
    task = tasks_by_system(session, again.id)["mailbox"]
    assert task.state is TaskState.DONE and task.attempts == 1, task.last_error
    assert len([path for method, path in graph.calls if path.endswith("/token")]) == len(token_requests) + 1


def test_a_wrong_credential_is_a_clear_error_on_the_systems_task(app_config, vendors, tmp_path, monkeypatch):
    monkeypatch.setenv("DSR_MS365_CLIENT_SECRET", "not-the-secret")
    monkeypatch.setenv("DSR_HUBSPOT_TOKEN", "not-the-token")
    app_config["SYSTEMS_FILE"] = str(write_vendors_file(tmp_path))
    app = create_app(app_config)
    with app.app_context():
        session = get_db(app).session()
        request = _case(session, Right.ACCESS)
        run_jobs(app)
        tasks = tasks_by_system(session, request.id)
        assert tasks["mailbox"].state is TaskState.FAILED and tasks["mailbox"].attempts == 1
        assert tasks["mailbox"].last_error == (
            "system mailbox refused our credentials at its token endpoint with HTTP 401 (invalid_client): "
            "check DSR_MS365_CLIENT_ID, DSR_MS365_CLIENT_SECRET and DSR_MS365_TOKEN_URL")
        assert tasks["crm"].state is TaskState.FAILED
        assert tasks["crm"].last_error.startswith("system crm refused lookup with HTTP 401: our credentials were not "
                                                  "accepted (check DSR_HUBSPOT_TOKEN)")
        assert tasks["newsletter"].state is TaskState.DONE  # the others carry on
        for task in tasks.values():
            assert "not-the-secret" not in (task.last_error or "") and KARI not in (task.last_error or "")
        session.close()
    get_db(app).dispose()
