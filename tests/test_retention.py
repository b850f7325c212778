"""The portal's own retention (issue 16, SECURITY-PLAN S41): a case closed longer ago than
CASE_RETENTION_DAYS is reduced to proof of handling by the periodic job — staff see no name, e-mail,
phone or free text of it, search by e-mail still finds it, its audit trail still verifies — and spent
codes, one-time secrets and outbox files go much sooner."""
from __future__ import annotations

import os
import re
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from dsr.audit.service import record
from dsr.crypto import seal
from dsr.db import Base, utcnow
from dsr.models import (
    ChallengeChannel,
    ChallengePurpose,
    DeliveryChannel,
    DeliveryStatus,
    Message,
    MessageDirection,
    RequestStatus,
    Right,
    StaffRole,
    SubjectLocation,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
    VerificationChallenge,
)
from dsr.queue import broker
from dsr.queue.registry import periodic_jobs
from dsr.queue.sweep import enqueue_periodic
from dsr.retention.service import apply_retention, due_for_reduction
from tests.helpers.jobs import run_jobs
from tests.helpers.staff import enrolled_staff, login

OLD = {"email": "Old.Canary@Example.no", "phone": "+4791234567", "name": "Oddveig Canarysen",
       "text": "oldcanarytext"}
NEW = {"email": "new.canary@example.no", "phone": "+4798765432", "name": "Nils Recentsen", "text": "newcanarytext"}


def _case(session, values: dict, closed_days_ago: float, **extra) -> SubjectRequest:
    closed = utcnow() - timedelta(days=closed_days_ago)
    request = SubjectRequest(
        email=values["email"], phone=values["phone"], full_name=values["name"], right=Right.RECTIFICATION,
        status=RequestStatus.COMPLETED, language="nb", received_at=closed - timedelta(days=20),
        verified_at=closed - timedelta(days=19), identity_method="email_code+sms_code",
        due_on=date(2026, 1, 5), deadline_on=date(2026, 1, 5), decided_at=closed - timedelta(days=3),
        closed_at=closed, details={"what_is_wrong": f"{values['text']} wrong", "should_be": values["name"]},
        extension_reason=f"{values['text']} extension", outcome_note=f"{values['text']} outcome",
        supplementary_statement=f"{values['text']} statement", **extra)
    session.add(request)
    session.flush()
    text = values["text"]
    session.add_all([
        Message(request_id=request.id, direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                template="action_outcome", to_address=values["email"], subject_line=f"Hei {values['name']}",
                body_text=f"Dear {values['name']}, {text} letter", status=DeliveryStatus.SENT, sent_at=closed),
        Message(request_id=request.id, direction=MessageDirection.FROM_SUBJECT, channel=DeliveryChannel.PORTAL,
                body_text=f"{text} reply from {values['phone']}", status=DeliveryStatus.NOT_SENT),
        Message(request_id=request.id, direction=MessageDirection.INTERNAL_NOTE, channel=DeliveryChannel.PORTAL,
                body_text=f"{text} note: called {values['name']}", status=DeliveryStatus.NOT_SENT),
        VerificationChallenge(request_id=request.id, purpose=ChallengePurpose.VERIFY, channel=ChallengeChannel.EMAIL,
                              destination=values["email"], code_hmac="0" * 64, expires_at=closed,
                              consumed_at=closed),
        SubjectLocation(request_id=request.id, system_key="crm", found=True,
                        ref={"system_key": "crm", "keys": {"contacts.id": [7]}, "phones": [values["phone"]],
                             "emails": [values["email"]]}),
        SystemTask(request_id=request.id, system_key="crm", action=TaskAction.RECTIFY, state=TaskState.DONE,
                   result={"ref": {"system_key": "crm", "keys": {"contacts.id": [7]}, "emails": [values["email"]]},
                           "note": f"{text} by hand",
                           "plan": {"system_key": "crm", "action": "rectify", "manual": [],
                                    "changes": [{"collection": "contacts", "operation": "update", "count": 1,
                                                 "fields": ["last_name"], "keys": [7],
                                                 "values": {"last_name": values["name"]}, "text": ""}],
                                    "kept": []},
                           "proof": {"ok": True, "found": {"contacts": 1}, "problems": [], "digest": "ab" * 32}}),
    ])
    record(session, "request.completed", actor_type="system", request_id=request.id)
    session.commit()
    return request


def _canaries(values: dict) -> list[str]:
    return [values["email"].lower(), values["phone"], values["phone"][3:], values["name"].lower(),
            values["name"].split()[1].lower(), values["text"]]


def _shows_none_of(html: str, values: dict) -> None:
    lowered = html.lower()
    for canary in _canaries(values):
        assert canary.lower() not in lowered, canary


def test_a_case_closed_longer_ago_than_the_retention_shows_staff_no_personal_data(app, session, runner):
    staff, secret = enrolled_staff(session, app, role=StaffRole.OFFICER)
    old = _case(session, OLD, closed_days_ago=1096)
    recent = _case(session, NEW, closed_days_ago=30)
    assert app.config["CASE_RETENTION_DAYS"] == 1095  # three years by default
    assert any(spec.name == "retention_sweep" and spec.every == 3600 for spec in periodic_jobs())

    connection = broker.worker_connection(app)
    try:
        enqueue_periodic(app, connection)  # what every worker does: the hourly job, among the others
    finally:
        connection.close()
    run_jobs(app)

    client = app.test_client()
    login(client, staff, secret)
    page = client.get(f"/staff/cases/{old.id}").get_data(as_text=True)
    _shows_none_of(page, OLD)
    assert old.reference in page and "Removed" in page and "completed" in page  # the proof of handling
    assert "<dt>Due</dt>" in page and "Letter to the subject: action_outcome" in page  # dates, letters sent
    for listing in (client.get("/staff/?status=completed"), client.get(f"/staff/?q={OLD['email']}")):
        html = listing.get_data(as_text=True)
        assert listing.status_code == 200 and old.reference in html  # search by e-mail finds it by its digest
        _shows_none_of(re.sub(r'<input[^>]*name="q"[^>]*>', "", html), OLD)  # (the search box echoes what was typed)
    recent_page = client.get(f"/staff/cases/{recent.id}").get_data(as_text=True)
    assert NEW["email"] in recent_page and NEW["text"] in recent_page  # not due yet: untouched

    session.expire_all()
    reduced = session.get(SubjectRequest, old.id)
    assert reduced.reduced_at is not None and reduced.email == "" and reduced.email_digest
    assert (reduced.right, reduced.status, reduced.verified_at, reduced.closed_at, reduced.identity_method) == (
        Right.RECTIFICATION, RequestStatus.COMPLETED, old.verified_at, old.closed_at, "email_code+sms_code")
    task = session.scalar(sa.select(SystemTask).where(SystemTask.request_id == old.id))
    assert task.result["plan"]["changes"] == [{"collection": "contacts", "operation": "update", "count": 1,
                                               "fields": ["last_name"]}]
    assert task.result["proof"]["ok"] is True and "ref" not in task.result and "note" not in task.result
    letters = session.scalars(sa.select(Message).where(Message.request_id == old.id)).all()
    assert {m.template for m in letters} == {"action_outcome", None} and all(not m.body_text for m in letters)
    assert session.scalar(sa.select(sa.func.count()).select_from(VerificationChallenge)
                          .where(VerificationChallenge.request_id == old.id)) == 0
    # Nowhere in the database any more (the recent case keeps its own).
    with app.app_context():
        dump = "\n".join(str(tuple(row)) for table in Base.metadata.sorted_tables
                         for row in session.execute(sa.select(table))).lower()
    for canary in _canaries(OLD):
        assert canary.lower() not in dump, canary
    assert NEW["email"] in dump

    result = runner.invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 0 and result.stdout.startswith("OK"), result.output
    with app.app_context():
        assert due_for_reduction(session) == []  # done once; a second run changes nothing
        assert apply_retention(session).reduced == 0


def test_a_closed_case_with_work_pending_or_a_restriction_in_force_waits(app, session):
    follow_up = _case(session, OLD, closed_days_ago=2000)
    session.add(SystemTask(request_id=follow_up.id, system_key="accounting", action=TaskAction.FOLLOW_UP_ERASE,
                           state=TaskState.PENDING, due_on=date(2031, 1, 1)))
    restricted = _case(session, NEW, closed_days_ago=2000, restricted_at=utcnow() - timedelta(days=2100))
    session.commit()
    with app.app_context():
        assert due_for_reduction(session) == []
        restricted.restriction_lifted_at = utcnow() - timedelta(days=2000)
        session.commit()
        assert due_for_reduction(session) == [restricted.id]


def test_spent_codes_secrets_and_outbox_files_are_purged(app, session):
    now = utcnow()
    done = _case(session, OLD, closed_days_ago=10)
    waiting = SubjectRequest(email=NEW["email"], right=Right.ACCESS, status=RequestStatus.AWAITING_VERIFICATION)
    session.add(waiting)
    session.flush()
    old_code = VerificationChallenge(request_id=done.id, purpose=ChallengePurpose.DOWNLOAD,
                                     channel=ChallengeChannel.EMAIL, destination=OLD["email"], code_hmac="1" * 64,
                                     created_at=now - timedelta(days=3), expires_at=now - timedelta(days=3))
    first_factor = VerificationChallenge(request_id=waiting.id, purpose=ChallengePurpose.VERIFY,
                                         channel=ChallengeChannel.EMAIL, destination=NEW["email"], code_hmac="2" * 64,
                                         created_at=now - timedelta(days=2), expires_at=now - timedelta(days=2),
                                         consumed_at=now - timedelta(days=2))
    fresh_code = VerificationChallenge(request_id=done.id, purpose=ChallengePurpose.DOWNLOAD,
                                       channel=ChallengeChannel.EMAIL, destination=OLD["email"], code_hmac="3" * 64,
                                       expires_at=now + timedelta(minutes=10))
    with app.app_context():
        stuck = Message(request_id=waiting.id, direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.SMS,
                        to_address=NEW["phone"], body_text="code [[dsr-secret]]", secret_sealed=seal("123456"),
                        created_at=now - timedelta(days=2))
        pending = Message(request_id=waiting.id, direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.SMS,
                          to_address=NEW["phone"], body_text="code [[dsr-secret]]", secret_sealed=seal("654321"))
    session.add_all([old_code, first_factor, fresh_code, stuck, pending])
    session.commit()
    outbox = Path(app.config["OUTBOX_DIR"])
    outbox.mkdir(parents=True, exist_ok=True)
    stale, current = outbox / "old.eml", outbox / "new.eml"
    for path in (stale, current):
        path.write_text("Subject: code 123456\n")
    long_ago = time.time() - (float(app.config["OUTBOX_KEEP_DAYS"]) + 1) * 86400
    os.utime(stale, (long_ago, long_ago))

    with app.app_context():
        counts = apply_retention(session)
        session.commit()
    # the old download code, and the first case's e-mail code (spent, its request answered)
    assert (counts.challenges, counts.secrets, counts.outbox_files, counts.reduced) == (2, 1, 1, 0)
    session.expire_all()
    remaining = set(session.scalars(sa.select(VerificationChallenge.id)))
    assert old_code.id not in remaining and {first_factor.id, fresh_code.id} <= remaining
    assert session.get(Message, stuck.id).secret_sealed is None and session.get(Message, pending.id).secret_sealed
    assert not stale.exists() and current.exists()
