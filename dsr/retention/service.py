"""The portal's own retention (GDPR Art. 5(1)(e), SECURITY-PLAN S41): it keeps the least it can.

A closed case (completed, rejected, withdrawn, or expired unverified) is *reduced* once it was
closed CASE_RETENTION_DAYS ago (default 1095, three years: the general limitation period in
Norway, foreldelsesloven § 2, within which a subject or the authority may question how a request
was handled). Reduced means:

- gone: the e-mail address (a keyed hash of it stays, `email_digest`, so staff searching by
  address still find that the person asked, and when), the phone, name and postal address as typed,
  a representative's name, addresses, relationship note and the reason given for rejecting their
  authorisation, the authorisation file itself, to whom a bundle was handed over, the right-specific
  details, every free text staff or subject wrote (extension reason, refusal text, objection grounds,
  outcome note, supplementary statement, notes, replies, a fee's reason, payment instructions and
  note), the bodies,
  subjects and addresses of all letters and notes, one-time secrets, the contact details and system keys the lookup found,
  and of each system task the keys, new values and notes of its plan, its subject reference and
  the name of an uploaded file, the receiving controllers' names and addresses (Art. 20(2)), the
  reasons and named records of redactions (Art. 15(4)) and the released records' digests kept for a
  later delta answer; a bundle file still stored is deleted;
- kept, as proof of handling: the reference, the right, the channel, the language, every date
  (received, verified, due, extended, decided, closed, withdrawn, restricted, lifted), the status
  and outcome (refusal code and the law named, objection upheld or rejected, a fee's ground, amount and
  whether it was paid or waived), how identity was
  established (a method name), who decided and who was assigned, per letter its template,
  direction, channel, delivery status and dates, per system what was done (operation, counts,
  collections, fields, the legal hold and until when, the check afterwards) and the bundle's
  size and hashes; the audit trail is not touched (it holds ids, action names and hashes only,
  its rows are sealed and PostgreSQL refuses to change them), so `flask dsr audit-verify`
  still says OK.

A case with work still pending (a follow-up erasure waiting for a hold to end, a task waiting for
staff) or a restriction in force is not reduced yet: that work needs the subject's details (and
Art. 18(3) needs the subject told before a restriction is lifted).

Spent secrets go much sooner, whatever the case: verification codes (their keyed hashes and link
nonces) a day after they expired, unless the request still waits for its second factor; sealed
one-time secrets of messages a day after they were queued (a code lives minutes; the job that
sends it retries within that); file-outbox mails and SMS logs after OUTBOX_KEEP_DAYS. A periodic
job (`apply_retention`, hourly) does all of it; each step is idempotent and safe to run twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases.states import FINAL
from dsr.crypto import email_digest
from dsr.db import on_commit, utcnow
from dsr.export import storage
from dsr.models import (
    BundleRedaction,
    BundleTransmission,
    CaseFee,
    ExportBundle,
    Message,
    RecordDigest,
    Representative,
    RequestStatus,
    SubjectLocation,
    SubjectRequest,
    SystemTask,
    VerificationChallenge,
)
from dsr.notify.transports import prune_outbox
from dsr.queue import QUEUE_DEFAULT, job
from dsr.tasks.states import OUTSTANDING

log = logging.getLogger(__name__)

SPENT_AFTER = timedelta(days=1)
_PLAN_CHANGE_KEPT = ("collection", "operation", "count", "fields")
_PLAN_KEPT_KEPT = ("collection", "count", "hold", "ground", "until", "fields")


@dataclass
class RetentionCounts:
    reduced: int = 0
    challenges: int = 0
    secrets: int = 0
    outbox_files: int = 0


def retention_cutoff(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=float(current_app.config["CASE_RETENTION_DAYS"]))


def due_for_reduction(session: orm.Session, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Ids of closed cases past the retention period, not reduced yet, with no work left to do."""
    pending_work = sa.exists().where(SystemTask.request_id == SubjectRequest.id, SystemTask.state.in_(OUTSTANDING))
    restricted = sa.and_(SubjectRequest.restricted_at.is_not(None), SubjectRequest.restriction_lifted_at.is_(None))
    return list(session.scalars(
        sa.select(SubjectRequest.id)
        .where(SubjectRequest.status.in_(list(FINAL)), SubjectRequest.closed_at < retention_cutoff(now),
               SubjectRequest.reduced_at.is_(None), ~pending_work, ~restricted)
        .order_by(SubjectRequest.id).limit(limit)))


def reduce_case(session: orm.Session, request_id: int, now: datetime | None = None) -> bool:
    """Reduce one closed case to proof of handling (see the module docstring). The caller commits;
    a bundle file still stored is deleted after that commit. False when there was nothing to do."""
    now = now or utcnow()
    request = session.get(SubjectRequest, request_id, with_for_update=True)
    if request is None or request.reduced_at is not None or request.status not in FINAL:
        return False
    request.email_digest = email_digest(request.email) if request.email else None
    request.email = ""
    request.phone = request.full_name = request.postal_address = None
    authorisation = _reduce_representative(request.representative)
    request.details = {}
    request.extension_reason = request.rejection_text = request.objection_grounds = request.outcome_note = None
    request.supplementary_statement = None
    request.reduced_at = now
    session.execute(sa.update(Message).where(Message.request_id == request_id).values(
        to_address=None, subject_line=None, body_text="", body_html=None, secret_sealed=None, last_error=None))
    session.execute(sa.delete(VerificationChallenge).where(VerificationChallenge.request_id == request_id))
    session.execute(sa.update(CaseFee).where(CaseFee.request_id == request_id).values(
        reason="", payment_instructions="", settled_note=None))
    session.execute(sa.update(SubjectLocation).where(SubjectLocation.request_id == request_id).values(ref=None))
    for task in session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request_id)):
        task.result = reduced_result(task.result or {})
    _reduce_answer_records(session, request_id)
    names = []
    session.execute(sa.update(ExportBundle).where(ExportBundle.request_id == request_id).values(handed_to=None))
    for bundle in session.scalars(sa.select(ExportBundle).where(ExportBundle.request_id == request_id,
                                                                ExportBundle.storage_name.is_not(None),
                                                                ExportBundle.deleted_at.is_(None))):
        names.append(bundle.storage_name)
        bundle.deleted_at = now
    record(session, "request.reduced", actor_type="system", request_id=request_id, bundles_deleted=len(names),
           authorisation_deleted=authorisation is not None)
    session.flush()
    app = current_app._get_current_object()
    if names:
        on_commit(session, lambda: [storage.delete_bundle(name, app) for name in names])
    if authorisation is not None:
        on_commit(session, lambda: storage.get_store(app).delete(authorisation))
    return True


def _reduce_representative(representative: Representative | None) -> str | None:
    """A representative's details go like the subject's (the relationship and the decision's dates stay, as
    proof of handling); returns the storage key of the authorisation file to delete after the commit."""
    if representative is None:
        return None
    key = representative.authorisation_key
    representative.name = ""
    representative.email = representative.postal_address = representative.relationship_note = None
    representative.rejection_reason = representative.authorisation_filename = None
    representative.authorisation_key = None
    return key


def _reduce_answer_records(session: orm.Session, request_id: int) -> None:
    """What the answer kept besides its bundles: the receivers' addresses, the redactions' reasons and the
    records they named go; the redactions' fields and the transmissions' counts stay as proof. The
    released records' digests (kept for a later delta answer) are deleted."""
    bundles = sa.select(ExportBundle.id).where(ExportBundle.request_id == request_id).scalar_subquery()
    session.execute(sa.delete(RecordDigest).where(RecordDigest.bundle_id.in_(bundles)))
    session.execute(sa.update(BundleTransmission).where(BundleTransmission.request_id == request_id)
                    .values(receiver_name="", receiver_email=""))
    session.execute(sa.update(BundleRedaction).where(BundleRedaction.request_id == request_id)
                    .values(reason="", rows=[]))


def reduced_result(result: dict) -> dict:
    """What a task's result keeps: the plan's shape (operations, counts, holds), the check afterwards,
    per collection its counts and field names, and an upload's size and hash; no keys, values or notes."""
    kept: dict = {}
    plan = result.get("plan")
    if isinstance(plan, dict):
        kept["plan"] = {
            "system_key": plan.get("system_key"), "action": plan.get("action"),
            "changes": [{k: c.get(k) for k in _PLAN_CHANGE_KEPT} for c in plan.get("changes", [])],
            "kept": [{k: item.get(k) for k in _PLAN_KEPT_KEPT} for item in plan.get("kept", [])],
            "manual": list(plan.get("manual", [])),
        }
    for name in ("proof", "collections", "found", "nothing_found", "completed_by", "done_by", "changed",
                 "checklist", "rectifiable"):
        if name in result:
            kept[name] = result[name]
    if isinstance(result.get("upload"), dict):
        kept["upload"] = {k: result["upload"].get(k) for k in ("size", "sha256")}
    return kept


def purge_spent(session: orm.Session, now: datetime | None = None) -> tuple[int, int]:
    """Delete verification codes spent a day ago and wipe one-time secrets queued a day ago; returns
    (codes, secrets). A consumed code of a request still waiting for its second factor stays: it is
    the proof of the first one."""
    before = (now or utcnow()) - SPENT_AFTER
    still_verifying = sa.select(SubjectRequest.id).where(SubjectRequest.status == RequestStatus.AWAITING_VERIFICATION)
    codes = session.execute(sa.delete(VerificationChallenge).where(
        VerificationChallenge.expires_at < before,
        sa.or_(VerificationChallenge.consumed_at.is_(None), VerificationChallenge.request_id.not_in(still_verifying)),
    )).rowcount
    secrets = session.execute(sa.update(Message).where(
        Message.secret_sealed.is_not(None), Message.created_at < before).values(secret_sealed=None)).rowcount
    session.flush()
    return codes or 0, secrets or 0


def apply_retention(session: orm.Session, now: datetime | None = None) -> RetentionCounts:
    """One pass: purge what is spent, reduce the closed cases that are due (a batch at a time)."""
    counts = RetentionCounts()
    counts.challenges, counts.secrets = purge_spent(session, now)
    for request_id in due_for_reduction(session, now):
        counts.reduced += reduce_case(session, request_id, now)
    config = current_app.config
    counts.outbox_files = prune_outbox(Path(config["OUTBOX_DIR"]), float(config["OUTBOX_KEEP_DAYS"]))
    if counts.reduced:
        log.info("retention: %d closed case(s) reduced", counts.reduced)
    return counts


@job(QUEUE_DEFAULT, every=3600)
def retention_sweep(session: orm.Session) -> dict:
    """Hourly: the portal's own retention (this module's docstring)."""
    return vars(apply_retention(session))
