"""Every message to or from the subject, to staff, and internal notes: the proof that notices went out."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import DeliveryChannel, DeliveryStatus, MessageDirection
from dsr.models.types import StrEnumType, UTCDateTime


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"),
                                                   index=True)
    direction: Mapped[MessageDirection] = mapped_column(StrEnumType(MessageDirection))
    channel: Mapped[DeliveryChannel] = mapped_column(StrEnumType(DeliveryChannel))
    #: template name, e.g. "acknowledgement", "verification_code", "extension_notice"
    template: Mapped[str | None] = mapped_column(sa.String(64))
    language: Mapped[str] = mapped_column(sa.String(5), default="en")
    to_address: Mapped[str | None] = mapped_column(sa.String(254))
    subject_line: Mapped[str | None] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    #: a one-time secret (code, zip password) sealed for the send job and wiped once sent:
    #: the stored body holds a placeholder, never the secret
    secret_sealed: Mapped[str | None] = mapped_column(sa.String(300))
    status: Mapped[DeliveryStatus] = mapped_column(StrEnumType(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    #: at most one message per key, e.g. "reminder:42:2026-11-24" (duplicate jobs send nothing twice)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
