"""The other rights made real on the demo systems (issue 12): an objection to direct marketing and a
withdrawn consent stop at once, with no staff step; a restriction is lifted only after the subject
was told; a rectification changes the value in the system and the recipients are told; another
objection restricts meanwhile and is weighed by an officer."""
from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from dsr.actions.approval import approve_plans, confirm_by_hand
from dsr.actions.objection import decide_objection
from dsr.actions.restriction import request_lift
from dsr.actions.sweep import sweep_actions
from dsr.cases.opening import DIRECT_MARKETING, open_case
from dsr.models import (
    DeliveryStatus,
    Message,
    RequestStatus,
    Right,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from tests.helpers.export import KARI, approve
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import text_of
from tests.helpers.staff import officer as add_officer


def _verified(app, session, right: Right, details: dict | None = None, language: str = "en") -> SubjectRequest:
    """A request whose identity was just proven: the case opens as verification opens it."""
    request = SubjectRequest(email=KARI, right=right, details=details or {}, language=language,
                             status=RequestStatus.AWAITING_VERIFICATION)
    session.add(request)
    session.commit()
    with app.app_context():
        open_case(session, request, method="email_code")
        session.commit()
    return request


def _demo_db(app, name: str) -> sqlite3.Connection:
    return sqlite3.connect(Path(app.instance_path) / "demo" / f"{name}.sqlite3")


def _newsletter_has_kari(app) -> bool:
    with open(Path(app.instance_path) / "demo" / "newsletter.csv", encoding="utf-8-sig", newline="") as handle:
        return any(row["email"].lower() == KARI for row in csv.DictReader(handle))


def _tasks(session, request, action) -> dict[str, SystemTask]:
    session.expire_all()
    return {t.system_key: t for t in session.scalars(sa.select(SystemTask).where(
        SystemTask.request_id == request.id, SystemTask.action == action))}


def test_an_objection_to_direct_marketing_stops_it_everywhere_before_any_staff_action(smtp, demo_app, demo_session,
                                                                                      chat):
    assert _newsletter_has_kari(demo_app)
    request = _verified(demo_app, demo_session, Right.OBJECTION, {"processing": DIRECT_MARKETING}, "nb")
    assert request.status is RequestStatus.IN_PROGRESS  # Art. 21(3): no triage
    run_jobs(demo_app)  # what the worker does within seconds of the verification

    assert not _newsletter_has_kari(demo_app)
    with _demo_db(demo_app, "crm") as crm:
        open_consents = crm.execute("SELECT count(*) FROM marketing_consents JOIN contacts ON contacts.id = "
                                    "marketing_consents.contact_id WHERE lower(contacts.email) = ? AND "
                                    "withdrawn_at IS NULL", (KARI,)).fetchone()[0]
    assert open_consents == 0
    assert chat.customers[KARI]["marketing_emails"] is False
    demo_session.refresh(request)
    assert request.status is RequestStatus.COMPLETED
    tasks = _tasks(demo_session, request, TaskAction.OBJECT)
    assert set(tasks) == {"crm", "newsletter", "support_chat"}
    assert all(t.state is TaskState.DONE and t.plan_approved_by_id is None for t in tasks.values())
    letter = text_of(smtp.wait_for(KARI)[-1])
    assert "Medlemsnyhetsbrevet på e-post" in letter and "stanset" in letter and "Datatilsynet" in letter


def test_a_withdrawn_consent_stops_only_what_it_covered(demo_app, demo_session, chat):
    request = _verified(demo_app, demo_session, Right.WITHDRAW_CONSENT, {"consent": "event_invitations"})
    assert request.status is RequestStatus.IN_PROGRESS
    run_jobs(demo_app)
    demo_session.refresh(request)
    assert request.status is RequestStatus.COMPLETED
    with _demo_db(demo_app, "crm") as crm:
        rows = dict(crm.execute("SELECT purpose, withdrawn_at IS NOT NULL FROM marketing_consents JOIN contacts ON "
                                "contacts.id = marketing_consents.contact_id WHERE lower(contacts.email) = ?",
                                (KARI,)).fetchall())
    assert rows == {"newsletter": 0, "event_invitations": 1}
    assert _newsletter_has_kari(demo_app)  # the newsletter rests on another consent: untouched


def test_a_restriction_is_lifted_only_after_the_subject_was_told(smtp, demo_app, demo_session, chat):
    officer = add_officer(demo_session)
    request = _verified(demo_app, demo_session, Right.RESTRICTION, {"ground": "accuracy"})
    approve(demo_session, request)
    run_jobs(demo_app)
    with demo_app.app_context():
        assert approve_plans(demo_session, request, actor=officer, values={}, note="", four_eyes=False) == "applied"
        demo_session.commit()
    run_jobs(demo_app)
    by_hand = {key: t for key, t in _tasks(demo_session, request, TaskAction.RESTRICT).items()
               if t.state is TaskState.WAITING_FOR_STAFF}
    assert set(by_hand) == {"newsletter", "mailbox"}  # no restriction mechanism there: a person does it
    demo_session.refresh(request)
    assert request.restricted_at is None
    with demo_app.app_context():
        for task in by_hand.values():
            confirm_by_hand(demo_session, request, task, actor=officer, note="Marked as restricted by hand")
        demo_session.commit()
    demo_session.refresh(request)
    assert request.restricted_at is not None
    with _demo_db(demo_app, "crm") as crm:
        assert crm.execute("SELECT processing_restricted FROM contacts WHERE lower(email) = ?", (KARI,)).fetchone()[0]
    with _demo_db(demo_app, "accounting") as accounting:
        assert accounting.execute("SELECT count(*) FROM suppressed_customers").fetchone()[0] == 1
    assert chat.customers[KARI]["restricted"] is True

    smtp.fail_next = 1  # the notice's first delivery attempt is deferred by the mail server
    with demo_app.app_context():
        notice = request_lift(demo_session, request, actor=officer, reason="We checked: your address is right.")
        demo_session.commit()
    run_jobs(demo_app, max_rounds=1)
    demo_session.refresh(request)
    assert demo_session.get(Message, notice.id).status is DeliveryStatus.PENDING
    assert request.restriction_lifted_at is None  # not lifted while the subject has not been told
    assert not _tasks(demo_session, request, TaskAction.LIFT_RESTRICTION)

    run_jobs(demo_app)  # the notice goes out; the sweep starts the lift; the lift runs
    with demo_app.app_context():
        sweep_actions(demo_session)
        demo_session.commit()
    run_jobs(demo_app)
    lifts = _tasks(demo_session, request, TaskAction.LIFT_RESTRICTION)
    assert {key for key, t in lifts.items() if t.state is TaskState.DONE} == {"crm", "accounting", "support_chat"}
    with demo_app.app_context():
        for key in ("newsletter", "mailbox"):  # restricted by hand: lifted by hand
            confirm_by_hand(demo_session, request, lifts[key], actor=officer, note="Restriction removed by hand")
        demo_session.commit()
    demo_session.refresh(request)
    assert "We checked: your address is right." in text_of(smtp.to(KARI)[-1])
    told_at = demo_session.get(Message, notice.id).sent_at
    assert request.restriction_lifted_at is not None and told_at <= request.restriction_lifted_at
    with _demo_db(demo_app, "crm") as crm:
        assert not crm.execute("SELECT processing_restricted FROM contacts WHERE lower(email) = ?",
                               (KARI,)).fetchone()[0]
    assert chat.customers[KARI]["restricted"] is False


def test_a_rectified_phone_number_changes_in_the_accounting_system_and_its_recipients_are_told(
        smtp, demo_app, demo_session, chat):
    officer = add_officer(demo_session)
    request = _verified(demo_app, demo_session, Right.RECTIFICATION,
                        {"wrong": "My phone number is old", "correct": "+47 912 34 567"})
    run_jobs(demo_app)  # accuracy contested: restricted meanwhile, without staff (by hand where no mechanism)
    restrict = _tasks(demo_session, request, TaskAction.RESTRICT)
    assert {k for k, t in restrict.items() if t.state is TaskState.DONE} == {"crm", "accounting", "support_chat"}
    assert {k for k, t in restrict.items() if t.state is TaskState.WAITING_FOR_STAFF} == {"newsletter", "mailbox"}
    approve(demo_session, request)
    run_jobs(demo_app)
    rectify = _tasks(demo_session, request, TaskAction.RECTIFY)
    accounting = rectify["accounting"]
    assert accounting.state is TaskState.AWAITING_APPROVAL
    assert "phone" in accounting.result["rectifiable"]["customers"]
    with demo_app.app_context():
        approve_plans(demo_session, request, actor=officer, values={
            accounting.id: {"customers": {"phone": "+4791234567"}}}, note="", four_eyes=False)
        demo_session.commit()
    run_jobs(demo_app)
    with _demo_db(demo_app, "accounting") as db:
        assert db.execute("SELECT phone FROM customers WHERE lower(email) = ?", (KARI,)).fetchone()[0] == "+4791234567"
    rectify = _tasks(demo_session, request, TaskAction.RECTIFY)
    assert rectify["accounting"].state is TaskState.DONE and rectify["accounting"].result["proof"]["ok"]
    assert rectify["crm"].state is TaskState.DONE  # nothing to correct there: an empty plan, done
    tripletex = smtp.wait_for("personvern@tripletex.example")
    assert "+4791234567" in text_of(tripletex[-1])  # Art. 19: the recipient gets the corrected value


def test_another_objection_restricts_meanwhile_and_an_upheld_one_erases(demo_app, demo_session, chat):
    officer = add_officer(demo_session)
    request = _verified(demo_app, demo_session, Right.OBJECTION,
                        {"processing": "other", "processing_text": "Profiling", "reason": "It upsets me"})
    assert request.status is RequestStatus.OPEN
    run_jobs(demo_app)  # Art. 18(1)(d) while the objection is weighed
    restrict = _tasks(demo_session, request, TaskAction.RESTRICT)
    assert {k for k, t in restrict.items() if t.state is TaskState.DONE} == {"crm", "accounting", "support_chat"}
    with demo_app.app_context():
        decide_objection(demo_session, request, actor=officer, grounds="We have no overriding grounds.",
                         outcome="upheld")
        demo_session.commit()
    run_jobs(demo_app)
    erase = _tasks(demo_session, request, TaskAction.ERASE)
    assert erase and all(t.state in (TaskState.AWAITING_APPROVAL, TaskState.WAITING_FOR_STAFF) for t in erase.values())
