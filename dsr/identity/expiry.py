"""Unverified requests: one reminder (with a fresh code) VERIFICATION_REMINDER_SECONDS after filing, and
expiry with a message saying so at verification_expires_at (VERIFICATION_EXPIRY_SECONDS after filing).

Run periodically by a job; safe to run twice or concurrently (each step is guarded by the
request's state and by the letters' dedupe keys). Another job deletes case access rows no one can
use any more (`prune_case_access`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.states import Action
from dsr.db import utcnow
from dsr.identity.codes import burn_waiting_codes, issue_code
from dsr.models import (
    CaseAccess,
    ChallengeChannel,
    ChallengePurpose,
    Message,
    Representative,
    RequestStatus,
    SubjectRequest,
)
from dsr.notify.letters import send_subject_letter
from dsr.queue import QUEUE_DEFAULT, job

REMINDER_LETTER = "verification_reminder"
EXPIRED_LETTER = "request_expired"


@dataclass
class SweepCounts:
    reminded: int = 0
    expired: int = 0


def remind_and_expire(session: orm.Session, now: datetime | None = None, batch: int = 200) -> SweepCounts:

    now = now or utcnow()
    counts = SweepCounts()
    remind_before = now - timedelta(seconds=int(current_app.config["VERIFICATION_REMINDER_SECONDS"]))
    # A request held for staff (identity_hold) is the staff's to settle: no reminder, no expiry.
    waiting = sa.and_(SubjectRequest.status == RequestStatus.AWAITING_VERIFICATION,
                      SubjectRequest.identity_hold.is_(None))
    for request in session.scalars(
        sa.select(SubjectRequest)
        .where(waiting, SubjectRequest.verification_expires_at <= now)
        .order_by(SubjectRequest.id)
        .limit(batch)
    ).all():
        states.apply(request, Action.EXPIRE)
        request.closed_at = now
        burn_waiting_codes(session, request)
        record(session, "request.expired", actor_type="system", request_id=request.id)
        if not _letter_exists(session, f"expired:{request.id}"):
            send_subject_letter(session, request, EXPIRED_LETTER, dedupe_key=f"expired:{request.id}")
        counts.expired += 1
    for request in session.scalars(
        sa.select(SubjectRequest)
        .where(
            waiting,
            _answered_by_email(),
            SubjectRequest.verification_reminded_at.is_(None),
            SubjectRequest.created_at <= remind_before,
            sa.or_(
                SubjectRequest.verification_expires_at.is_(None), SubjectRequest.verification_expires_at > now
            ),
        )
        .order_by(SubjectRequest.id)
        .limit(batch)
    ).all():
        request.verification_reminded_at = now
        if not _letter_exists(session, f"reminder:{request.id}"):
            # A fresh code: the first one expired long ago. Not bound to a browser: the subject may
            # come back on another device, and the code only reaches their own mailbox anyway.
            issue_code(
                session,
                request,
                ChallengePurpose.VERIFY,
                ChallengeChannel.EMAIL,
                request.contact_email,
                template=REMINDER_LETTER,
                dedupe_key=f"reminder:{request.id}",
                enforce_limits=False,
            )
        record(session, "request.reminded", actor_type="system", request_id=request.id)
        counts.reminded += 1
    session.flush()
    return counts


def _answered_by_email():
    """SubjectRequest.contact_email is set (a code reminder has somewhere to go): the representative's
    e-mail when someone acts for the subject, else the subject's own."""
    acting = sa.exists().where(Representative.request_id == SubjectRequest.id)
    acting_by_email = sa.exists().where(Representative.request_id == SubjectRequest.id,
                                        Representative.email.is_not(None))
    return sa.or_(sa.and_(~acting, SubjectRequest.email.is_not(None)), acting_by_email)


def _letter_exists(session: orm.Session, dedupe_key: str) -> bool:
    return (
        session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.dedupe_key == dedupe_key)
        )
        > 0
    )


@job(QUEUE_DEFAULT, retries=0, every=60)
def sweep_unverified_requests(session: orm.Session) -> dict[str, int]:
    counts = remind_and_expire(session)
    return {"reminded": counts.reminded, "expired": counts.expired}


def prune_case_access(session: orm.Session, now: datetime | None = None) -> int:
    """Delete access rows that ended longer ago than a case link lives: until then a row that a letter's
    link made is what keeps that link single-use."""
    before = (now or utcnow()) - timedelta(seconds=int(current_app.config["CASE_LINK_MAX_AGE_SECONDS"]))
    pruned = session.execute(sa.delete(CaseAccess).where(
        sa.func.coalesce(CaseAccess.revoked_at, CaseAccess.expires_at) < before)).rowcount
    session.flush()
    return pruned


@job(QUEUE_DEFAULT, retries=0, every=3600)
def prune_case_access_rows(session: orm.Session) -> int:
    return prune_case_access(session)
