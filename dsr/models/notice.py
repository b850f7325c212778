"""Art. 19: a recipient of a system's data told of a rectification, erasure or restriction."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import NoticeState
from dsr.models.types import StrEnumType, UTCDateTime


class RecipientNotice(Base):
    __tablename__ = "recipient_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    system_key: Mapped[str] = mapped_column(sa.String(64))
    #: the recipient as declared (`[[systems.notify]]` name) and how it is told
    recipient: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(32))  # erase | rectify | restrict
    state: Mapped[NoticeState] = mapped_column(StrEnumType(NoticeState), default=NoticeState.WAITING_FOR_STAFF)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    __table_args__ = (sa.UniqueConstraint("request_id", "system_key", "recipient", "action"),)
