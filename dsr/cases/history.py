"""The subject's earlier requests, as evidence for an Art. 12(5) decision (a request "manifestly unfounded
or excessive, in particular because of its repetitive character": the controller must be able to show it).

Earlier means received before this one, by the same person as far as the portal can prove it: the same
e-mail address once verified (a reduced case by its keyed digest), or the same phone number once an SMS
code to it was given back. Unverified requests prove nothing about who sent them and are left out."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.cases.labels import label, refusal_label
from dsr.connectors.base import SubjectRef
from dsr.crypto import email_digests
from dsr.models import (
    BundleStatus,
    ChallengeChannel,
    ChallengePurpose,
    ExportBundle,
    RequestStatus,
    Right,
    SubjectLocation,
    SubjectRequest,
    VerificationChallenge,
)

#: SubjectRequest.identity_method of a case opened with the e-mail code and an SMS code to the phone on
#: file (dsr.identity.verification.EMAIL_AND_SMS; that package imports this one, so it is repeated here)
SMS_PROVEN = "email_code+sms_code"
_PROVEN_SMS = (VerificationChallenge.purpose == ChallengePurpose.STEP_UP,
               VerificationChallenge.channel == ChallengeChannel.SMS,
               VerificationChallenge.consumed_at.is_not(None))

#: the outcome staff read for a closed request (an open one shows its status)
_CLOSED_OUTCOMES = {
    RequestStatus.REJECTED: _l("Refused"),
    RequestStatus.WITHDRAWN: _l("Withdrawn"),
}
_MATCHED_BY = {(True, False): _l("e-mail"), (False, True): _l("phone"), (True, True): _l("e-mail and phone")}


@dataclass(frozen=True)
class EarlierRequest:
    id: int
    reference: str
    right: Right
    received_at: datetime
    status: RequestStatus
    outcome: object  # in staff's words (a lazy text)
    matched_by: object  # "e-mail", "phone" or "e-mail and phone"
    #: an access or portability copy released to the subject (what Art. 15(3)'s "further copy" refers to)
    copy_released_at: datetime | None


def verified_phone(session: orm.Session, request: SubjectRequest) -> str | None:
    """The phone number this request proved with an SMS code (the number on file it was opened with),
    or None. The code's own record goes a day after it expired (dsr.retention); the number stays in what
    the lookup found (there was exactly one, or no code would have been sent)."""
    sent_to = session.scalar(
        sa.select(VerificationChallenge.destination)
        .where(VerificationChallenge.request_id == request.id, *_PROVEN_SMS)
        .order_by(VerificationChallenge.id.desc())
        .limit(1)
    )
    if sent_to or request.identity_method != SMS_PROVEN:
        return sent_to
    phones = {phone for ref in session.scalars(sa.select(SubjectLocation.ref).where(
        SubjectLocation.request_id == request.id, SubjectLocation.found.is_(True))) if ref
        for phone in SubjectRef.from_json(ref).phones}
    return phones.pop() if len(phones) == 1 else None


def _requests_by_phone(session: orm.Session, phone: str) -> set[int]:
    """Requests that proved this number: by their SMS code's record, or opened with e-mail + SMS while the
    lookup found this number (the JSON of the location holds it as a quoted string)."""
    by_code = session.scalars(sa.select(VerificationChallenge.request_id).where(
        VerificationChallenge.destination == phone, *_PROVEN_SMS))
    by_location = session.scalars(
        sa.select(SubjectLocation.request_id)
        .join(SubjectRequest, SubjectRequest.id == SubjectLocation.request_id)
        .where(SubjectRequest.identity_method == SMS_PROVEN, SubjectLocation.found.is_(True),
               sa.cast(SubjectLocation.ref, sa.Text).contains(json.dumps(phone))))
    return set(by_code) | set(by_location)


def earlier_requests(session: orm.Session, request: SubjectRequest) -> list[EarlierRequest]:
    """This person's verified requests received before `request`, newest first."""
    by_email: set[int] = set()
    if request.email:
        # As stored and lower-cased: both stay on the e-mail index (as the queue's search does).
        addresses = sorted({request.email, request.email.strip().lower()})
        by_email = set(session.scalars(sa.select(SubjectRequest.id).where(
            sa.or_(SubjectRequest.email.in_(addresses), SubjectRequest.email_digest.in_(email_digests(addresses[0]))))))
    phone = verified_phone(session, request)
    by_phone = _requests_by_phone(session, phone) if phone else set()
    ids = (by_email | by_phone) - {request.id}
    if not ids:
        return []
    rows = session.scalars(
        sa.select(SubjectRequest)
        .where(SubjectRequest.id.in_(ids), SubjectRequest.verified_at.is_not(None),
               SubjectRequest.received_at < request.received_at)
        .order_by(SubjectRequest.received_at.desc(), SubjectRequest.id.desc())
    ).all()
    released = dict(session.execute(
        sa.select(ExportBundle.request_id, sa.func.min(ExportBundle.released_at))
        .where(ExportBundle.request_id.in_([r.id for r in rows]), ExportBundle.released_at.is_not(None),
               ExportBundle.status.in_([BundleStatus.RELEASED, BundleStatus.EXPIRED]))
        .group_by(ExportBundle.request_id)
    ).all()) if rows else {}
    return [
        EarlierRequest(
            id=row.id, reference=row.reference, right=row.right, received_at=row.received_at, status=row.status,
            outcome=_outcome(row, released.get(row.id)),
            matched_by=_MATCHED_BY[(row.id in by_email, row.id in by_phone)],
            copy_released_at=released.get(row.id),
        )
        for row in rows
    ]


def _outcome(request: SubjectRequest, copy_released_at: datetime | None) -> str:
    if request.status is RequestStatus.COMPLETED:
        if request.answered_no_data_at is not None:
            return _l("Answered: we hold no data about the subject")
        if copy_released_at is not None:
            return _l("Answered: their data was released to them")
        return _l("Answered")
    if request.status is RequestStatus.REJECTED:
        ground = refusal_label(request.rejection_code) if request.rejection_code else ""
        return _l("Refused (%(ground)s)", ground=ground) if ground else _CLOSED_OUTCOMES[request.status]
    return _CLOSED_OUTCOMES.get(request.status) or _l("Not answered yet (%(status)s)", status=label(request.status))


def received_further_copy(earlier: list[EarlierRequest]) -> EarlierRequest | None:
    """The latest earlier access request whose copy the subject received (Art. 15(3): a further copy
    may carry a fee), or None."""
    return next((e for e in earlier if e.right is Right.ACCESS and e.copy_released_at is not None), None)
