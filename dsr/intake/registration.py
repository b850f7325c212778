"""Requests that arrived by e-mail, post, phone or in person, registered by staff with their real
time of receipt (the clock runs from then, not from the registration).

The request row is made in ONE place, `create_registered_request`. Identity is then either recorded
by staff (one of IDENTITY_METHODS), left for later, or proven by the subject with the same codes as
the web form (SEND_CODES: the intake's `start_verification`, e-mail code + link and the SMS step-up
to the phone on file).

Someone without e-mail is registered with a postal address: every letter to them is printed and posted
(dsr.notify.letters), starting with an acknowledgement. Someone acting for the subject is registered
with the representative's details and, when staff have it, the authorisation (dsr.representation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases.opening import IDENTITY_METHODS, record_identity
from dsr.controller import Controller
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.intake.service import start_verification
from dsr.models import Channel, RequestStatus, Right, StaffUser, SubjectRequest
from dsr.notify.letters import send_subject_letter
from dsr.representation.files import AuthorisationFileError
from dsr.representation.service import RepresentativeDetails, add_representative
from dsr.validation import InvalidValue, normalise_email, normalise_phone, postal_address

STAFF_CHANNELS = (Channel.EMAIL, Channel.POST, Channel.PHONE, Channel.IN_PERSON)

#: identity choice at registration: the subject proves it with the web form's codes
SEND_CODES = "send_codes"
#: the printed letter that tells someone answered by post that their request was registered
ACKNOWLEDGED_LETTER = "request_acknowledged"


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
    email: str | None  # the subject's; None for someone without e-mail (then a postal address, or a representative)
    language: str
    phone: str | None = None
    full_name: str | None = None
    postal_address: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    representative: RepresentativeDetails | None = None


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
    authorisation: BinaryIO | None = None,
) -> SubjectRequest:
    """Register the request. `identity_method`: a key of IDENTITY_METHODS (the case opens at once),
    SEND_CODES (the subject gets the web form's codes), or None (staff confirm identity later).
    `authorisation`: the representative's, when staff have it (it can be attached later)."""
    if registration.channel not in STAFF_CHANNELS:
        raise RegistrationError("channel", "Choose how the request arrived.")
    if identity_method not in (None, SEND_CODES, *IDENTITY_METHODS):
        raise RegistrationError("identity", "Choose how identity was established, or that it is not yet.")
    request = create_registered_request(session, registration, controller)
    if registration.representative is not None:
        try:
            add_representative(session, request, registration.representative, authorisation,
                               actor_type="staff", actor_id=actor.id)
        except AuthorisationFileError as exc:
            raise RegistrationError("authorisation", str(exc)) from None
    if identity_method == SEND_CODES and request.contact_email is None:
        raise RegistrationError("identity", "The codes go by e-mail: with no e-mail address to answer to, "
                                            "establish identity yourself or leave it for later.")
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
    if request.answered_by_post:  # the web form's acknowledgement carries codes; this one only the facts
        send_subject_letter(session, request, ACKNOWLEDGED_LETTER, author_id=actor.id,
                            dedupe_key=f"acknowledged:{request.id}")
    session.flush()
    return request


def _optional_email(value: str | None) -> str | None:
    return normalise_email(value) if (value or "").strip() else None


def create_registered_request(
    session: orm.Session, registration: Registration, controller: Controller
) -> SubjectRequest:
    """The one place a staff-registered request row is made (see the module docstring)."""
    contact = {}
    for name, normalise in (("email", _optional_email), ("phone", normalise_phone),
                            ("postal_address", postal_address)):
        try:
            contact[name] = normalise(getattr(registration, name))
        except InvalidValue as exc:
            raise RegistrationError(name, str(exc.message)) from None
    if registration.representative is None and not (contact["email"] or contact["postal_address"]):
        raise RegistrationError("email", "Enter an e-mail address or a postal address: the answer must go "
                                         "somewhere (a phone number alone is not enough).")
    if registration.representative is not None and not registration.full_name:
        raise RegistrationError("full_name", "Enter the name of the person the request is for.")
    request = SubjectRequest(
        right=registration.right,
        channel=registration.channel,
        language=registration.language,
        email=contact["email"],
        phone=contact["phone"],
        postal_address=contact["postal_address"],
        full_name=registration.full_name or None,
        details=dict(registration.details),
        received_at=registration.received_at,
        status=RequestStatus.AWAITING_VERIFICATION,
    )
    session.add(request)
    session.flush()
    refresh_deadlines(request, controller)
    return request
