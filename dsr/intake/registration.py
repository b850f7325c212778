"""Requests that arrived by e-mail, post, phone or in person, registered by staff with their real
time of receipt (the clock runs from then, not from the registration).

The request row is made in ONE place, `create_registered_request`. Identity is then either recorded
by staff (one of IDENTITY_METHODS), left for later, or proven by the subject with the same codes as
the web form (SEND_CODES: the intake's `start_verification`, e-mail code + link and the SMS step-up
to the phone on file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases.opening import IDENTITY_METHODS, record_identity
from dsr.controller import Controller
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.intake.service import start_verification
from dsr.models import Channel, RequestStatus, Right, StaffUser, SubjectRequest
from dsr.validation import InvalidValue, normalise_email, normalise_phone

STAFF_CHANNELS = (Channel.EMAIL, Channel.POST, Channel.PHONE, Channel.IN_PERSON)

#: identity choice at registration: the subject proves it with the web form's codes
SEND_CODES = "send_codes"


class RegistrationError(ValueError):
    """Input that cannot be registered; `field` names the form field, the message says why."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(message)


@dataclass(frozen=True)
class Registration:
    right: Right
    channel: Channel
    received_at: datetime  # tz-aware
    email: str
    language: str
    phone: str | None = None
    full_name: str | None = None
    details: dict[str, str] = field(default_factory=dict)


def receipt_instant(day: date, clock: time, tz: str) -> datetime:
    """A controller-local date and time -> an aware instant. A time that does not exist (the hour
    skipped when clocks go forward) is refused; in the repeated hour the first one is taken."""
    zone = ZoneInfo(tz)
    local = datetime.combine(day, clock).replace(tzinfo=zone)
    round_trip = local.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise RegistrationError(
            "received_time",
            f"{clock:%H:%M} did not exist on {day} in {tz} (the clocks "
            "went forward); check the time on the letter or e-mail.",
        )
    if local > utcnow():
        raise RegistrationError("received_date", "The time of receipt cannot be in the future.")
    return local


def register_request(
    session: orm.Session,
    registration: Registration,
    *,
    actor: StaffUser,
    controller: Controller,
    identity_method: str | None = None,
) -> SubjectRequest:
    """Register the request. `identity_method`: a key of IDENTITY_METHODS (the case opens at once),
    SEND_CODES (the subject gets the web form's codes), or None (staff confirm identity later)."""
    if registration.channel not in STAFF_CHANNELS:
        raise RegistrationError("channel", "Choose how the request arrived.")
    if identity_method not in (None, SEND_CODES, *IDENTITY_METHODS):
        raise RegistrationError("identity", "Choose how identity was established, or that it is not yet.")
    request = create_registered_request(session, registration, controller)
    record(
        session,
        "request.registered",
        actor_type="staff",
        actor_id=actor.id,
        request_id=request.id,
        channel=registration.channel.value,
        right=registration.right.value,
    )
    if identity_method == SEND_CODES:
        start_verification(session, request)
    elif identity_method is not None:
        record_identity(session, request, actor=actor, how=identity_method)
    session.flush()
    return request


def create_registered_request(
    session: orm.Session, registration: Registration, controller: Controller
) -> SubjectRequest:
    """The one place a staff-registered request row is made (see the module docstring)."""
    contact = {}
    for name, normalise in (("email", normalise_email), ("phone", normalise_phone)):
        try:
            contact[name] = normalise(getattr(registration, name))
        except InvalidValue as exc:
            raise RegistrationError(name, str(exc.message)) from None
    request = SubjectRequest(
        right=registration.right,
        channel=registration.channel,
        language=registration.language,
        email=contact["email"],
        phone=contact["phone"],
        full_name=registration.full_name or None,
        details=dict(registration.details),
        received_at=registration.received_at,
        status=RequestStatus.AWAITING_VERIFICATION,
    )
    session.add(request)
    session.flush()
    refresh_deadlines(request, controller)
    return request
