"""Filing a request: store it, fix its legal due date at receipt, and set verification going.

The web form calls `submit_request`; so does the staff area when a request arrives by post,
phone or e-mail (with the real receipt time). The caller commits; only then may a page say
"received".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, BinaryIO

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.crypto import keyed_hmac
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.identity.codes import issue_code
from dsr.identity.lookup import lookup_subject
from dsr.intake.details import InvalidDetails, clean_details
from dsr.models import ChallengeChannel, ChallengePurpose, Channel, Right, SubjectRequest
from dsr.queue import defer
from dsr.representation.service import RepresentativeDetails, add_representative
from dsr.validation import collect, normalise_email, normalise_phone, single_line

RECEIVED_LETTER = "request_received"


class InvalidRequest(ValueError):
    """Bad input; `errors` maps each field (email, phone, full_name, language, a details key) to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def intake_key_for(browser_binding: str, right: Right, answers: Mapping[str, Any]) -> str:
    """The check-your-answers page's idempotency key: the same answers in the same browser give the same
    key however often the page is rebuilt (Back, then reload, posts the form again), so a second "Send"
    finds the first request. Another browser, or one changed answer, gives another key."""
    canonical = json.dumps([browser_binding, Right(right).value, dict(answers)], sort_keys=True, default=str)
    return keyed_hmac("intake-key", canonical)[:32]


def existing_request(session: orm.Session, intake_key: str | None) -> SubjectRequest | None:
    """The request already filed with this key, if any."""
    if intake_key is None:
        return None
    return session.scalars(sa.select(SubjectRequest).where(SubjectRequest.intake_key == intake_key)).first()


def filed_public_id(session: orm.Session, intake_key: str | None) -> str | None:
    """The public id of the request already filed with this key, if any (every Send asks: one column)."""
    if intake_key is None:
        return None
    return session.scalar(sa.select(SubjectRequest.public_id).where(SubjectRequest.intake_key == intake_key))


def submit_request(
    session: orm.Session,
    *,
    right: Right | str,
    email: str,
    language: str,
    phone: str | None = None,
    full_name: str | None = None,
    details: Mapping[str, Any] | None = None,
    channel: Channel = Channel.WEB,
    received_at: datetime | None = None,
    intake_key: str | None = None,
    browser_binding: str | None = None,
    actor_type: str = "subject",
    actor_id: int | str | None = None,
    representative: RepresentativeDetails | None = None,
    authorisation: BinaryIO | None = None,
) -> SubjectRequest:
    """Store a request and queue its acknowledgement (which carries the verification code and
    link) and the lookup job. A second call with the same `intake_key` returns the first request.

    Filed by someone for another (`representative`, with their `authorisation` file): `email`, `phone`
    and `full_name` are the subject's as the representative knows them (the e-mail may be unknown), the
    codes go to the representative, and nothing is looked up before staff accepted the authorisation.

    Raises InvalidRequest for bad input, AuthorisationFileError for a file that cannot be taken
    (nothing is stored: the caller rolls back)."""
    # A second "Send" was looked up by the page already (before its abuse limits); one racing the first
    # meets the unique intake key below.
    values = _clean(right, email, language, phone, full_name, details, email_required=representative is None)
    if representative is not None and not values["full_name"]:  # the letters name the subject
        raise InvalidRequest({"full_name": _("Enter the name of the person the request is for")})
    now = utcnow()
    received_at = received_at or now
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    request = SubjectRequest(
        **values,
        channel=Channel(channel),
        received_at=received_at,
        intake_key=intake_key,
        verification_expires_at=now
        + timedelta(seconds=int(current_app.config["VERIFICATION_EXPIRY_SECONDS"])),
        pauses=[],  # a new request has neither: known now, not asked of the database later
        representative=None,
    )
    refresh_deadlines(request, current_app.extensions["dsr.controller"])  # stored with the row, not after it
    try:
        with session.begin_nested():  # a double-submitted form racing the first one makes no second request
            session.add(request)
            session.flush()
    except sa.exc.IntegrityError:
        existing = existing_request(session, intake_key)
        if existing is None:
            raise
        return existing
    if representative is not None:
        add_representative(session, request, representative, authorisation, actor_type=actor_type,
                           actor_id=actor_id)
    record(
        session,
        "request.received",
        actor_type=actor_type,
        actor_id=actor_id,
        request_id=request.id,
        right=request.right.value,
        channel=request.channel.value,
        language=request.language,
        due_on=request.due_on.isoformat(),
    )
    start_verification(session, request, browser_binding)
    return request


def start_verification(session: orm.Session, request: SubjectRequest, browser_binding: str | None = None) -> None:
    """The acknowledgement (carrying the e-mail code and link) and the lookup job that finds the phone on
    file for step-up. Web intake and staff-registered requests go through the same door."""
    if request.verification_expires_at is None:
        request.verification_expires_at = utcnow() + timedelta(
            seconds=int(current_app.config["VERIFICATION_EXPIRY_SECONDS"]))
    issue_code(
        session,
        request,
        ChallengePurpose.VERIFY,
        ChallengeChannel.EMAIL,
        request.contact_email,
        browser_binding,
        template=RECEIVED_LETTER,
        dedupe_key=f"received:{request.id}",
        enforce_limits=False,
        first_code=True,  # both doors file a new request in this transaction
    )
    if request.representative is None:  # a representative's: nothing is looked up before their authorisation
        defer(session, lookup_subject, request.id, request_id=request.id)
    session.flush()


def _clean(right, email, language, phone, full_name, details, *, email_required: bool = True) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    try:
        values["right"] = Right(right)
    except ValueError:
        raise InvalidRequest({"right": f"unknown right {right!r}"}) from None
    if language not in current_app.extensions["dsr.controller"].languages:
        errors["language"] = f"language must be one of {current_app.extensions['dsr.controller'].languages}"
    values["language"] = language
    checked, failed = collect({
        "email": lambda: normalise_email(
            email, check_deliverability=bool(current_app.config["EMAIL_CHECK_DELIVERABILITY"])
        ) if email_required or (email or "").strip() else None,
        "phone": lambda: normalise_phone(phone),
        "full_name": lambda: single_line(full_name, max_length=200),
    })
    values.update(checked)
    errors.update(failed)
    try:
        values["details"] = clean_details(values["right"], details)
    except InvalidDetails as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidRequest(errors)
    return values
