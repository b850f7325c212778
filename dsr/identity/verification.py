"""The verification steps of a filed request, decided from what the database knows.

1. The e-mail address: a VERIFY code (or its link) consumed.
2. For access, portability and erasure, once the lookup job has asked every connected system:
   if a system holds a phone number for the subject, a STEP_UP code goes by SMS to that number
   on file (never to one typed in the form) and must be consumed too. With no phone on file the
   e-mail alone suffices (staff can ask for more). When the systems hold different numbers, none
   is guessed, and when a system never answered the lookup (not even at its last attempt) and none
   that did holds a phone, the silent one may hold it: either way the request waits for staff
   (`identity_hold`), who establish identity another way and record it
   (`dsr.cases.opening.record_identity`); it neither expires nor gets reminders.
3. All factors done: `dsr.cases.opening.open_case` opens the case.

Someone acting for the subject proves their own e-mail (the codes go to them) and nothing more: the
subject's data is not looked up and no code goes to the subject's phone; staff's acceptance of their
authorisation stands for the step-up, and the case's work waits for it (dsr.representation).

Later proofs ask for the same factors (`fresh_code_route`): a browser's case access already stands
for the e-mail (the codes, a letter's link or an e-mail code gave it), so the code before a download
goes by SMS to the phone the case was opened with when it was opened with e-mail + SMS.

`advance()` moves a request as far as it can and is called wherever a factor or the lookup
completes (the code POST, the link POST, the lookup job), so whichever finishes last carries the
request on; it is idempotent and serialises concurrent callers on the request row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases.opening import open_case
from dsr.connectors.base import SubjectRef
from dsr.db import utcnow
from dsr.identity import codes
from dsr.models import ChallengeChannel, ChallengePurpose, RequestStatus, SubjectLocation, SubjectRequest
from dsr.models.enums import STEP_UP_RIGHTS
from dsr.notify.letters import send_subject_letter
from dsr.validation import is_e164

VERIFIED_LETTER = "request_verified"
EMAIL_ONLY = "email_code"
EMAIL_AND_SMS = "email_code+sms_code"
#: SubjectRequest.identity_hold when connected systems hold different phone numbers for the subject
PHONE_CONFLICT = "phone_conflict"
#: ... when a system did not answer the lookup at its last attempt and none that answered holds a phone
SYSTEMS_UNREACHABLE = "systems_unreachable"

#: the factors a browser must have shown for a case opened by each method
FACTORS_FOR_METHOD = {EMAIL_ONLY: frozenset({"email"}), EMAIL_AND_SMS: frozenset({"email", "sms"})}


class Step(StrEnum):
    EMAIL = "email"  # waiting for the e-mail code or link
    CHECKING = "checking"  # e-mail proven; the lookup job has not finished
    PHONE = "phone"  # waiting for the SMS code to the phone on file
    STAFF = "staff"  # the codes cannot settle who this is: staff establish identity
    OPENED = "opened"  # the case is open (or further along)
    CLOSED = "closed"  # expired or withdrawn before verification


@dataclass(frozen=True)
class CodeRoute:
    channel: ChallengeChannel
    destination: str | None  # None: the code must go by SMS, but no number is known (it cannot be sent)


def fresh_code_route(session: orm.Session, request: SubjectRequest) -> CodeRoute:
    """Where a fresh code that re-proves the case's factors goes (a download's): by SMS to the number
    the step-up code went to when the case was opened with e-mail + SMS (the number on file if that
    code is gone), otherwise to the request's e-mail."""
    if request.identity_method != EMAIL_AND_SMS:
        return CodeRoute(ChallengeChannel.EMAIL, request.contact_email)
    step_up = codes.consumed_challenge(session, request, ChallengePurpose.STEP_UP)
    return CodeRoute(ChallengeChannel.SMS, step_up.destination if step_up else phone_on_file(session, request))


def needs_lookup_first(request: SubjectRequest) -> bool:
    return request.right in STEP_UP_RIGHTS and request.representative is None


def phones_on_file(session: orm.Session, request: SubjectRequest) -> list[str]:
    """Every distinct valid number the connected systems hold for the subject, in systems.toml order."""
    phones: list[str] = []
    for location in locations(session, request):
        if not location.found or not location.ref:
            continue
        for phone in SubjectRef.from_json(location.ref).phones:
            if isinstance(phone, str) and is_e164(phone) and phone not in phones:
                phones.append(phone)
    return phones


def phone_on_file(session: orm.Session, request: SubjectRequest) -> str | None:
    """The number the step-up code goes to: the one the systems hold; None when they hold none, or
    disagree (then `advance` holds the request for staff rather than pick one)."""
    phones = phones_on_file(session, request)
    return phones[0] if len(phones) == 1 else None


def locations(session: orm.Session, request: SubjectRequest) -> list[SubjectLocation]:
    return list(
        session.scalars(
            sa.select(SubjectLocation)
            .where(SubjectLocation.request_id == request.id)
            .order_by(SubjectLocation.id)
        )
    )


def current_step(session: orm.Session, request: SubjectRequest) -> Step:
    """Where the request stands, without changing anything (for GET pages)."""
    if request.status is not RequestStatus.AWAITING_VERIFICATION:
        return (
            Step.CLOSED
            if request.status in (RequestStatus.EXPIRED, RequestStatus.WITHDRAWN)
            and request.verified_at is None
            else Step.OPENED
        )
    if codes.consumed_challenge(session, request, ChallengePurpose.VERIFY) is None:
        return Step.EMAIL
    if request.identity_hold is not None:
        return Step.STAFF
    if needs_lookup_first(request) and request.lookup_done_at is None:
        return Step.CHECKING
    if request.step_up_required:
        return Step.PHONE
    return Step.CHECKING  # all factors are in: the next advance() opens the case


def advance(session: orm.Session, request: SubjectRequest) -> Step:
    """Open the case if every factor is done, or start the SMS step-up when it is due."""
    # Take the request row first: the code POST and the lookup job may both get here at once.
    session.execute(
        sa.update(SubjectRequest).where(SubjectRequest.id == request.id).values(updated_at=utcnow())
    )
    session.refresh(request)
    if request.status is not RequestStatus.AWAITING_VERIFICATION:
        return current_step(session, request)
    email = codes.consumed_challenge(session, request, ChallengePurpose.VERIFY)
    if email is None:
        return Step.EMAIL
    if not needs_lookup_first(request):
        _open(session, request, EMAIL_ONLY)
        return Step.OPENED
    if request.lookup_done_at is None:
        return Step.CHECKING
    if request.identity_hold is not None:
        return Step.STAFF
    phones = phones_on_file(session, request)
    if len(phones) > 1:
        _hold_for_staff(session, request, PHONE_CONFLICT, phones=len(phones))
        return Step.STAFF
    if not phones:
        silent = [location for location in locations(session, request) if location.error]
        if silent:  # fail closed: the system that did not answer may hold the phone
            _hold_for_staff(session, request, SYSTEMS_UNREACHABLE, systems=len(silent))
            return Step.STAFF
        request.step_up_required = False
        _open(session, request, EMAIL_ONLY)
        return Step.OPENED
    phone = phones[0]
    request.step_up_required = True
    if codes.consumed_challenge(session, request, ChallengePurpose.STEP_UP) is not None:
        _open(session, request, EMAIL_AND_SMS)
        return Step.OPENED
    if codes.latest_challenge(session, request, ChallengePurpose.STEP_UP) is None:
        # The first SMS code goes out by itself, bound to the browser that proved the e-mail.
        codes.issue_code(
            session,
            request,
            ChallengePurpose.STEP_UP,
            ChallengeChannel.SMS,
            phone,
            email.browser_binding,
            enforce_limits=False,
        )
    session.flush()
    return Step.PHONE


def _hold_for_staff(session: orm.Session, request: SubjectRequest, reason: str, **details: int) -> None:
    """The step-up cannot be done without guessing: staff establish identity before the case opens."""
    request.identity_hold = reason
    request.step_up_required = True
    record(session, "request.identity_held", actor_type="system", request_id=request.id, reason=reason,
           **details)
    session.flush()


def _open(session: orm.Session, request: SubjectRequest, method: str) -> None:

    open_case(session, request, method=method)
    codes.burn_waiting_codes(session, request)
    send_subject_letter(session, request, VERIFIED_LETTER, dedupe_key=f"verified:{request.id}")
