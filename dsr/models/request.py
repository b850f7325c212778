"""The subject's request, which becomes the case once identity is verified."""
from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import AuthorisationState, Channel, RequestStatus, Right
from dsr.models.representative import Representative
from dsr.models.types import StrEnumType, UTCDateTime

#: identity_method of a request whose identity staff established, e.g. "staff:phone_callback"
STAFF_IDENTITY_PREFIX = "staff:"

# Crockford base32 without look-alikes: references are read aloud on the phone.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    body = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"DSR-{body[:4]}-{body[4:]}"


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


class SubjectRequest(Base):
    __tablename__ = "subject_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: opaque id in subject-facing URLs; 128 random bits, never sequential
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    #: human reference shown to subject and staff; grants nothing on its own
    reference: Mapped[str] = mapped_column(sa.String(16), unique=True, default=new_reference)
    right: Mapped[Right] = mapped_column(StrEnumType(Right))
    status: Mapped[RequestStatus] = mapped_column(StrEnumType(RequestStatus), index=True,
                                                  default=RequestStatus.AWAITING_VERIFICATION)
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel), default=Channel.WEB)
    language: Mapped[str] = mapped_column(sa.String(5), default="en")
    #: the subject's e-mail; None for someone without one (a request by post or phone, answered by post)
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    #: as typed by the subject (E.164); never used for step-up, which goes to the phone on file
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    #: where letters go by post when there is no e-mail to answer to
    postal_address: Mapped[str | None] = mapped_column(sa.String(250))
    full_name: Mapped[str | None] = mapped_column(sa.String(200))
    #: right-specific answers (what is wrong / should be, which processing, which consent, ...)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: the form's idempotency key: a double-submitted form makes one request
    intake_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)

    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verification_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: how identity was established, e.g. "email_code+sms_code" or a staff note's id
    identity_method: Mapped[str | None] = mapped_column(sa.String(64))
    step_up_required: Mapped[bool] = mapped_column(default=False)
    #: why the codes cannot establish identity and staff must (e.g. "phone_conflict"); None otherwise
    identity_hold: Mapped[str | None] = mapped_column(sa.String(40))
    lookup_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Deadline fields are computed by dsr.deadlines.rules and stored so the queue can sort on them.
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    extension_notice_due_on: Mapped[date | None] = mapped_column(sa.Date)
    extended_due_on: Mapped[date | None] = mapped_column(sa.Date)
    #: the date that binds now: extended_due_on once extended, else due_on
    deadline_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: 1 or 2 (Art. 12(3) "two further months" at most); None until extended
    extension_months: Mapped[int | None] = mapped_column(sa.SmallInteger)

    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    rejection_code: Mapped[str | None] = mapped_column(sa.String(40))
    rejection_text: Mapped[str | None] = mapped_column(sa.Text)
    #: the law named when a request is refused under an exemption (e.g. "personopplysningsloven § 16")
    rejection_law: Mapped[str | None] = mapped_column(sa.String(200))
    #: four-eyes erasure approval (ERASURE_FOUR_EYES): the first officer's proposal; a second approves
    approval_proposed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    approval_proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    #: Art. 18: processing restricted in every system since; lifted (after the subject was told) at
    restricted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restriction_lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Art. 18(3): the lift waits until this notice (a Message id; no foreign key: messages point here) was
    #: delivered to the subject
    lift_notice_id: Mapped[int | None] = mapped_column(sa.Integer)
    #: Art. 21(1): the officer's balancing of the subject's grounds against ours, and its outcome
    objection_grounds: Mapped[str | None] = mapped_column(sa.Text)
    objection_outcome: Mapped[str | None] = mapped_column(sa.String(20))  # upheld | rejected
    objection_decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    #: a paragraph staff add to the outcome letter built from the tasks
    outcome_note: Mapped[str | None] = mapped_column(sa.Text)
    #: access, portability: answered "we hold no data about you" (every system searched, nothing found) at
    answered_no_data_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Art. 16: incomplete data completed by a statement from the subject, kept with the case and quoted in
    #: the outcome letter (the officer records it when approving a rectification)
    supplementary_statement: Mapped[str | None] = mapped_column(sa.Text)

    #: the portal's own retention (dsr.retention) reduced the closed case to proof of handling at
    reduced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: keyed hash of the reduced case's e-mail (lower case): staff can still answer "did this address ask?"
    email_digest: Mapped[str | None] = mapped_column(sa.String(64), index=True)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    pauses: Mapped[list[ClockPause]] = orm.relationship(back_populates="request", order_by="ClockPause.id",
                                                       cascade="all, delete-orphan")
    #: someone filing for the subject (their letters and codes go there); None: the subject themself
    representative: Mapped[Representative | None] = orm.relationship(back_populates="request",
                                                                     cascade="all, delete-orphan")

    __table_args__ = (sa.Index("ix_subject_requests_status_deadline", "status", "deadline_on", "id"),)

    def __repr__(self) -> str:  # no PII in reprs: they end up in logs
        return f"<SubjectRequest {self.id} {self.right} {self.status}>"

    @property
    def contact_email(self) -> str | None:
        """Where letters and codes go: the representative's address when someone files for the subject."""
        return self.representative.email if self.representative is not None else self.email

    @property
    def contact_name(self) -> str | None:
        return self.representative.name if self.representative is not None else self.full_name

    @property
    def contact_postal_address(self) -> str | None:
        return self.representative.postal_address if self.representative is not None else self.postal_address

    @property
    def answered_by_post(self) -> bool:
        """No e-mail to answer to: letters are printed and posted, a bundle is handed over on a medium."""
        return self.contact_email is None

    @property
    def authorisation_pending(self) -> bool:
        """Someone files for the subject and staff have not accepted their authorisation: until then no
        system is searched for the subject, no code goes to the subject's phone, nothing is released."""
        return self.representative is not None and self.representative.state is not AuthorisationState.ACCEPTED

    @property
    def lookup_phone(self) -> str | None:
        """The subject's phone as a lookup key, only when staff vouched for who this is (they established
        identity, or accepted a representative's authorisation): a number typed on the web form alone
        must not find anyone's data."""
        accepted = self.representative is not None and not self.authorisation_pending
        vouched = (self.identity_method or "").startswith(STAFF_IDENTITY_PREFIX) or accepted
        return self.phone if vouched else None


class ClockPause(Base):
    """The pause ledger: the clock stops only while identity information we asked for is outstanding, or a
    fee charged under Art. 12(5) or 15(3) is not yet paid (`reason`)."""

    __tablename__ = "clock_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(40), default="identity")  # a dsr.models.enums.PauseReason
    #: the message that asked the subject (proof of what was asked and when)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"))
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    request: Mapped[SubjectRequest] = orm.relationship(back_populates="pauses")
