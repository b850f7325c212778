"""One-time codes and link nonces that prove control of an e-mail address or the phone on file."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import ChallengeChannel, ChallengePurpose, DeliveryStatus
from dsr.models.types import StrEnumType, UTCDateTime


class VerificationChallenge(Base):
    __tablename__ = "verification_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[ChallengePurpose] = mapped_column(StrEnumType(ChallengePurpose))
    channel: Mapped[ChallengeChannel] = mapped_column(StrEnumType(ChallengeChannel))
    #: the e-mail address or E.164 number the code went to
    destination: Mapped[str] = mapped_column(sa.String(254))
    #: keyed HMAC-SHA256 of the code; the code itself is never stored in clear
    code_hmac: Mapped[str] = mapped_column(sa.String(64))
    #: single-use id carried by the equivalent signed link
    link_nonce: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    #: binds the code to the browser session that asked for it
    browser_binding: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    burned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_status: Mapped[DeliveryStatus] = mapped_column(StrEnumType(DeliveryStatus), default=DeliveryStatus.PENDING)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"))
