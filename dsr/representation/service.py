"""A representative on a request: recorded when the request is filed (on the web form or by staff), their
authorisation attached, read by staff (audited), accepted or rejected.

Accepting lets the case's work start (what opening would have started, `start_held_work`); rejecting
sends the representative a letter with the reason and changes nothing else: the request stays as it is,
a new authorisation can be attached, or staff refuse the request as for anyone whose identity could not
be confirmed. Services flush, never commit; they raise DecisionError with a message for staff."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases.decisions import DecisionError, checked_text, record_staff
from dsr.cases.opening import start_held_work
from dsr.db import on_commit, on_rollback, utcnow
from dsr.models import AuthorisationState, Message, Relationship, Representative, StaffUser, SubjectRequest
from dsr.notify.letters import send_subject_letter
from dsr.representation.files import delete_authorisation, read_authorisation, store_authorisation
from dsr.representation.forms import AUTHORISATION_STATE_LABELS
from dsr.validation import collect, normalise_email, postal_address, single_line

REJECTED_LETTER = "authorisation_rejected"


class InvalidRepresentative(ValueError):
    """Bad input about the representative; `errors` maps a field (rep_name, rep_email, rep_postal_address,
    relationship, relationship_note) to a message in the page's language."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class RepresentativeDetails:
    name: str
    relationship: Relationship
    email: str | None = None
    postal_address: str | None = None
    relationship_note: str | None = None


def clean_representative(*, name: str | None, relationship: str | None, email: str | None,
                         postal: str | None = None, note: str | None = None,
                         email_required: bool = True) -> RepresentativeDetails:
    """The representative's details checked (the web form needs their e-mail: the codes go there; staff
    may register one answered by post). Raises InvalidRepresentative."""
    values, errors = collect({
        "rep_name": lambda: single_line(name, max_length=200, required_message=_("Enter your full name")),
        "rep_email": lambda: normalise_email(email) if (email or "").strip() or email_required else None,
        "rep_postal_address": lambda: postal_address(postal),
        "relationship_note": lambda: single_line(note, max_length=200),
    })
    try:
        values["relationship"] = Relationship(relationship or "")
    except ValueError:
        errors["relationship"] = _("Choose how you stand to the person the request is for")
    if not errors and not values["rep_email"] and not values["rep_postal_address"]:
        errors["rep_email"] = _("Enter an e-mail address or a postal address to answer to")
    if errors:
        raise InvalidRepresentative(errors)
    return RepresentativeDetails(name=values["rep_name"], relationship=values["relationship"],
                                 email=values["rep_email"], postal_address=values["rep_postal_address"],
                                 relationship_note=values["relationship_note"])


def add_representative(session: orm.Session, request: SubjectRequest, details: RepresentativeDetails,
                       upload: BinaryIO | None, *, actor_type: str, actor_id: int | None = None) -> Representative:
    """Someone files for the subject of `request` (just made, flushed). The upload, when given, is checked
    and sealed first (AuthorisationFileError: nothing is kept)."""
    representative = Representative(name=details.name, email=details.email,
                                     postal_address=details.postal_address, relationship=details.relationship,
                                     relationship_note=details.relationship_note)
    request.representative = representative
    if upload is not None:
        _keep_file(session, representative, request.id, upload)
    session.flush()
    record(session, "representative.recorded", actor_type=actor_type, actor_id=actor_id, request_id=request.id,
           relationship=details.relationship.value, sha256=representative.authorisation_sha256)
    return representative


def _keep_file(session: orm.Session, representative: Representative, request_id: int, upload: BinaryIO) -> None:
    stored = store_authorisation(request_id, upload)
    on_rollback(session, lambda: delete_authorisation(stored.key))  # no file without its row
    representative.authorisation_key = stored.key
    representative.authorisation_filename = stored.filename
    representative.authorisation_type = stored.content_type
    representative.authorisation_size = stored.size
    representative.authorisation_sha256 = stored.sha256
    representative.authorisation_received_at = utcnow()


def _representative_of(request: SubjectRequest) -> Representative:
    if request.representative is None:
        raise DecisionError(_("This request was not filed by a representative."))
    return request.representative


def attach_authorisation(session: orm.Session, request: SubjectRequest, upload: BinaryIO, *,
                         actor: StaffUser) -> Representative:
    """An authorisation that came another way (by post, by e-mail), or a new one after a rejection: it
    replaces the earlier file and waits for staff's check again."""
    representative = _representative_of(request)
    if representative.state is AuthorisationState.ACCEPTED:
        raise DecisionError(_("The authorisation is accepted already; it cannot be replaced."))
    earlier = representative.authorisation_key
    _keep_file(session, representative, request.id, upload)
    representative.state = AuthorisationState.PENDING
    representative.decided_at = representative.decided_by_id = representative.rejection_reason = None
    if earlier:
        on_commit(session, lambda: delete_authorisation(earlier))
    record_staff(session, "authorisation.attached", actor, request, sha256=representative.authorisation_sha256)
    return representative


def accept_authorisation(session: orm.Session, request: SubjectRequest, *, actor: StaffUser) -> Representative:
    """Staff checked the authorisation and it covers this request: the subject's data may be searched."""
    representative = _representative_of(request)
    if representative.state is not AuthorisationState.PENDING:
        raise DecisionError(_("The authorisation is %(state)s already.", state=AUTHORISATION_STATE_LABELS[representative.state]))
    if not representative.authorisation_key:
        raise DecisionError(_("There is no authorisation to accept: attach the one the representative sent."))
    representative.state = AuthorisationState.ACCEPTED
    representative.decided_at, representative.decided_by_id = utcnow(), actor.id
    record_staff(session, "authorisation.accepted", actor, request, sha256=representative.authorisation_sha256)
    start_held_work(session, request)
    return representative


def reject_authorisation(session: orm.Session, request: SubjectRequest, *, actor: StaffUser,
                         reason: str) -> Message:
    """The authorisation does not show that the representative may act for the subject: they get a letter
    with the reason. Nothing else changes."""
    representative = _representative_of(request)
    if representative.state is not AuthorisationState.PENDING:
        raise DecisionError(_("The authorisation is %(state)s already.", state=AUTHORISATION_STATE_LABELS[representative.state]))
    reason = checked_text(reason, "reason, for the representative")
    representative.state = AuthorisationState.REJECTED
    representative.decided_at, representative.decided_by_id = utcnow(), actor.id
    representative.rejection_reason = reason
    letter = send_subject_letter(session, request, REJECTED_LETTER, author_id=actor.id, reason=reason)
    record_staff(session, "authorisation.rejected", actor, request, message_id=letter.id)
    return letter


@dataclass
class AuthorisationFile:
    filename: str
    content_type: str
    size: int
    chunks: Iterator[bytes]


def open_authorisation(session: orm.Session, request: SubjectRequest, *, actor: StaffUser) -> AuthorisationFile:
    """The authorisation for staff to read; audited before a byte leaves (the caller commits first)."""
    representative = _representative_of(request)
    if not representative.authorisation_key:
        raise DecisionError(_("There is no authorisation file on this request."))
    record_staff(session, "authorisation.downloaded", actor, request, sha256=representative.authorisation_sha256)
    return AuthorisationFile(filename=representative.authorisation_filename or "authorisation",
                             content_type=representative.authorisation_type or "application/octet-stream",
                             size=representative.authorisation_size or 0,
                             chunks=read_authorisation(representative.authorisation_key))
