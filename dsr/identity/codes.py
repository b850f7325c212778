"""One-time codes for every purpose (verify the e-mail, step up by SMS, re-open the case page,
a fresh proof before a download).

A code is six digits from `secrets`, stored only as a keyed HMAC bound to its request and
purpose, valid CODE_TTL_SECONDS, CODE_MAX_ATTEMPTS tries and then burned, consumed once by an
atomic `UPDATE ... WHERE consumed_at IS NULL`. A request gets at most CODES_PER_DAY codes per
purpose in any 24 hours, CODE_RESEND_SECONDS apart; a new code replaces the previous one.
The code itself travels only sealed inside its message until the send job puts it in the mail.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.crypto import keyed_hmac
from dsr.db import utcnow
from dsr.models import (
    ChallengeChannel,
    ChallengePurpose,
    MessageDirection,
    SubjectRequest,
    VerificationChallenge,
)
from dsr.notify.letters import send_subject_letter, subject_letter_context
from dsr.notify.service import VERIFY_LINK_PLACEHOLDER, queue_sms

#: the letter (e-mail) or text (SMS) that carries a code of each purpose, unless the caller names one
DEFAULT_TEMPLATES = {
    (ChallengePurpose.VERIFY, ChallengeChannel.EMAIL): "verification_code",
    (ChallengePurpose.STEP_UP, ChallengeChannel.SMS): "step_up_code",
    (ChallengePurpose.REOPEN, ChallengeChannel.EMAIL): "reopen_code",
    (ChallengePurpose.DOWNLOAD, ChallengeChannel.EMAIL): "download_code",
    (ChallengePurpose.DOWNLOAD, ChallengeChannel.SMS): "download_code",
    (ChallengePurpose.RECEIVER, ChallengeChannel.EMAIL): "receiver_code",
}


class CodeLimitReached(Exception):
    """No new code now: too many today, or the last one is too recent."""

    def __init__(self, retry_after: int, daily: bool):
        self.retry_after, self.daily = retry_after, daily
        super().__init__(f"no new code for {retry_after} s")


class CodeOutcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # not the code (or sent for another browser)
    EXPIRED = "expired"
    BURNED = "burned"  # too many wrong tries, or replaced by a newer code
    NONE = "none"  # no code waiting (never sent, or already used)


@dataclass(frozen=True)
class CodeResult:
    outcome: CodeOutcome
    challenge: VerificationChallenge | None = None
    attempts_left: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome is CodeOutcome.OK


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_digest(request_id: int, purpose: ChallengePurpose, code: str) -> str:
    # Bound to the request and purpose: a code of one request or purpose never matches another.
    return keyed_hmac("otp", f"{request_id}:{purpose.value}:{code}")


def issue_code(
    session: orm.Session,
    request: SubjectRequest,
    purpose: ChallengePurpose,
    channel: ChallengeChannel,
    destination: str,
    browser_binding: str | None = None,
    *,
    template: str | None = None,
    context: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    enforce_limits: bool = True,
    direction: MessageDirection = MessageDirection.TO_SUBJECT,
    first_code: bool = False,
) -> VerificationChallenge:
    """Make a code for `request`, replace any earlier one of this purpose, and queue the mail or SMS
    that carries it (the template gets `code_minutes`, `reference`, `link_url` for e-mail, and
    `secret` = the code; the stored letter holds placeholders for the link and the code). `browser_binding` ties the code to the browser that asked for it.
    Raises CodeLimitReached when `enforce_limits` and the request had enough codes. `first_code`: the request
    was filed in this transaction, so no earlier code exists to replace."""
    now = utcnow()
    if enforce_limits:
        check_issue_limits(session, request, purpose, now)
    if not first_code:
        burn_waiting_codes(session, request, purpose)
    code = new_code()
    ttl = int(current_app.config["CODE_TTL_SECONDS"])
    # The letter first, so the challenge is stored knowing it (one INSERT, no UPDATE after it). Neither
    # is delivered before the commit, and the delivery job finds the challenge by its letter.
    letter = template or DEFAULT_TEMPLATES[(purpose, channel)]
    values = {"code_minutes": max(1, ttl // 60), **(context or {})}
    if channel is ChallengeChannel.EMAIL:
        if purpose is ChallengePurpose.VERIFY:
            values.setdefault("link_url", VERIFY_LINK_PLACEHOLDER)  # the send job makes it from this challenge
        message = send_subject_letter(session, request, letter, to=destination, dedupe_key=dedupe_key, secret=code,
                                      direction=direction, **values)
    else:
        message = queue_sms(session, to=destination, template=letter, language=request.language,
                            context={**subject_letter_context(request), **values}, request_id=request.id,
                            dedupe_key=dedupe_key, secret=code)
    challenge = VerificationChallenge(
        request_id=request.id,
        purpose=purpose,
        channel=channel,
        destination=destination,
        code_hmac=code_digest(request.id, purpose, code),
        link_nonce=secrets.token_urlsafe(16) if channel is ChallengeChannel.EMAIL else None,
        browser_binding=browser_binding,
        message_id=message.id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    session.add(challenge)
    session.flush()
    record(
        session,
        "identity.code_issued",
        actor_type="system",
        request_id=request.id,
        purpose=purpose.value,
        channel=channel.value,
        challenge_id=challenge.id,
    )
    return challenge


def check_issue_limits(
    session: orm.Session, request: SubjectRequest, purpose: ChallengePurpose, now: datetime | None = None
) -> None:
    now = now or utcnow()
    config = current_app.config
    day_ago = now - timedelta(days=1)
    issued = session.scalars(
        sa.select(VerificationChallenge.created_at)
        .where(
            VerificationChallenge.request_id == request.id,
            VerificationChallenge.purpose == purpose,
            VerificationChallenge.created_at > day_ago,
        )
        .order_by(VerificationChallenge.created_at)
    ).all()
    if len(issued) >= int(config["CODES_PER_DAY"]):
        wait = issued[len(issued) - int(config["CODES_PER_DAY"])] + timedelta(days=1) - now
        raise CodeLimitReached(max(1, int(wait.total_seconds()) + 1), daily=True)
    if issued:
        gap = timedelta(seconds=int(config["CODE_RESEND_SECONDS"]))
        wait = issued[-1] + gap - now
        if wait.total_seconds() > 0:
            raise CodeLimitReached(max(1, int(wait.total_seconds() + 0.999)), daily=False)


def _newest_challenge(
    session: orm.Session, request: SubjectRequest, purpose: ChallengePurpose, *conditions
) -> VerificationChallenge | None:
    return session.scalars(
        sa.select(VerificationChallenge)
        .where(VerificationChallenge.request_id == request.id, VerificationChallenge.purpose == purpose,
               *conditions)
        .order_by(VerificationChallenge.id.desc())
        .limit(1)
    ).first()


def active_challenge(
    session: orm.Session, request: SubjectRequest, purpose: ChallengePurpose
) -> VerificationChallenge | None:
    """The newest code of this purpose still waiting to be used (it may have expired)."""
    return _newest_challenge(session, request, purpose, VerificationChallenge.consumed_at.is_(None),
                             VerificationChallenge.burned_at.is_(None))


def latest_challenge(
    session: orm.Session, request: SubjectRequest, purpose: ChallengePurpose
) -> VerificationChallenge | None:
    return _newest_challenge(session, request, purpose)


def consumed_challenge(
    session: orm.Session, request: SubjectRequest, purpose: ChallengePurpose
) -> VerificationChallenge | None:
    return _newest_challenge(session, request, purpose, VerificationChallenge.consumed_at.is_not(None))


def check_code(
    session: orm.Session,
    request: SubjectRequest,
    purpose: ChallengePurpose,
    code: str,
    browser_binding: str | None = None,
) -> CodeResult:
    """Count one try of `code` against the request's waiting code of `purpose`; consume it if right.

    Every try counts, the right one included, and the counter only moves while the code is
    unused and under the limit, all in one UPDATE: parallel tries cannot exceed the limit, and
    of twenty parallel right answers exactly one consumes the code."""
    challenge = latest_challenge(session, request, purpose)
    if challenge is None or challenge.consumed_at is not None:
        return CodeResult(CodeOutcome.NONE, challenge)
    if challenge.burned_at is not None:
        return CodeResult(CodeOutcome.BURNED, challenge)
    now = utcnow()
    if challenge.expires_at <= now:
        return CodeResult(CodeOutcome.EXPIRED, challenge)
    lock_request_row(session, request.id)
    limit = int(current_app.config["CODE_MAX_ATTEMPTS"])
    counted = session.execute(
        sa.update(VerificationChallenge)
        .where(
            VerificationChallenge.id == challenge.id,
            VerificationChallenge.consumed_at.is_(None),
            VerificationChallenge.burned_at.is_(None),
            VerificationChallenge.attempts < limit,
        )
        .values(attempts=VerificationChallenge.attempts + 1)
        .returning(VerificationChallenge.attempts)
    ).scalar()
    if counted is None:
        session.refresh(challenge)
        return CodeResult(CodeOutcome.NONE if challenge.consumed_at else CodeOutcome.BURNED, challenge)
    right = hmac.compare_digest(challenge.code_hmac, code_digest(request.id, purpose, code))
    bound_elsewhere = challenge.browser_binding is not None and not hmac.compare_digest(
        challenge.browser_binding, browser_binding or ""
    )
    if not right or bound_elsewhere:
        if counted >= limit:
            session.execute(
                sa.update(VerificationChallenge)
                .where(VerificationChallenge.id == challenge.id)
                .values(burned_at=now)
            )
        session.refresh(challenge)
        record(
            session,
            "identity.code_failed",
            actor_type="subject",
            request_id=request.id,
            purpose=purpose.value,
            challenge_id=challenge.id,
            attempt=counted,
            burned=counted >= limit,
        )
        return CodeResult(
            CodeOutcome.BURNED if counted >= limit else CodeOutcome.WRONG,
            challenge,
            attempts_left=max(0, limit - counted),
        )
    if not _consume(session, challenge.id, browser_binding, now):
        session.refresh(challenge)
        return CodeResult(CodeOutcome.NONE, challenge)
    session.refresh(challenge)
    record(
        session,
        "identity.code_accepted",
        actor_type="subject",
        request_id=request.id,
        purpose=purpose.value,
        challenge_id=challenge.id,
    )
    return CodeResult(CodeOutcome.OK, challenge, attempts_left=max(0, limit - counted))


def consume_link(
    session: orm.Session, public_id: str, nonce: str, browser_binding: str | None = None
) -> tuple[SubjectRequest | None, CodeResult]:
    """The POST behind a verification link: consume the challenge carrying `nonce`, once.

    The link proves control of the mailbox on its own, so it is not bound to the browser that
    filed the request; the code's binding moves to the browser that used the link."""
    challenge = session.scalars(
        sa.select(VerificationChallenge).where(VerificationChallenge.link_nonce == nonce)
    ).first()
    request = session.get(SubjectRequest, challenge.request_id) if challenge else None
    if challenge is None or request is None or not hmac.compare_digest(request.public_id, public_id):
        return None, CodeResult(CodeOutcome.NONE)
    now = utcnow()
    if challenge.consumed_at is not None:
        return request, CodeResult(CodeOutcome.NONE, challenge)
    if challenge.burned_at is not None:
        return request, CodeResult(CodeOutcome.BURNED, challenge)
    if challenge.expires_at <= now:
        return request, CodeResult(CodeOutcome.EXPIRED, challenge)
    lock_request_row(session, request.id)
    if not _consume(session, challenge.id, browser_binding, now):
        session.refresh(challenge)
        return request, CodeResult(CodeOutcome.NONE, challenge)
    session.refresh(challenge)
    record(
        session,
        "identity.link_accepted",
        actor_type="subject",
        request_id=request.id,
        purpose=challenge.purpose.value,
        challenge_id=challenge.id,
    )
    return request, CodeResult(CodeOutcome.OK, challenge)


class LinkState(StrEnum):
    """Why the link in a code's e-mail no longer works (for the confirm page)."""

    USED = "used"  # its code was used, replaced by a newer one, or the request closed
    BLOCKED = "blocked"  # its code was burned after too many wrong tries: not "used", and the page says so


def link_state(session: orm.Session, nonce: str) -> LinkState | None:
    """Why the link's code can no longer be used, or None while it can (changes nothing)."""
    challenge = session.scalars(
        sa.select(VerificationChallenge).where(VerificationChallenge.link_nonce == nonce)
    ).first()
    if challenge is None or challenge.consumed_at is not None:
        return LinkState.USED
    if challenge.burned_at is None:
        return None
    tried_out = challenge.attempts >= int(current_app.config["CODE_MAX_ATTEMPTS"])
    return LinkState.BLOCKED if tried_out else LinkState.USED


def lock_request_row(session: orm.Session, request_id: int) -> None:
    """Take the request's row before the audit trail's lock. A right code goes on to `advance()`, which
    locks the row, while the lookup job holds the row (its result flushed) when it appends to the audit
    trail: appending first and locking the row second deadlocks with it on PostgreSQL, and the subject
    typing their code gets an error page. (SQLite serialises writers anyway and ignores FOR UPDATE.)"""
    session.execute(sa.select(SubjectRequest.id).where(SubjectRequest.id == request_id).with_for_update())


def _consume(session: orm.Session, challenge_id: int, browser_binding: str | None, now: datetime) -> bool:
    result = session.execute(
        sa.update(VerificationChallenge)
        .where(
            VerificationChallenge.id == challenge_id,
            VerificationChallenge.consumed_at.is_(None),
            VerificationChallenge.burned_at.is_(None),
        )
        .values(consumed_at=now, browser_binding=browser_binding)
    )
    return result.rowcount == 1


def burn_waiting_codes(session: orm.Session, request: SubjectRequest, purpose: ChallengePurpose | None = None) -> None:
    """No waiting code of the request (of `purpose`, when given) may be used any more: the request
    closed, or a new code of that purpose replaces them."""
    session.execute(
        sa.update(VerificationChallenge)
        .where(
            VerificationChallenge.request_id == request.id,
            VerificationChallenge.consumed_at.is_(None),
            VerificationChallenge.burned_at.is_(None),
            *([VerificationChallenge.purpose == purpose] if purpose is not None else []),
        )
        .values(burned_at=utcnow())
    )
