"""What a browser has proven about a request, kept on the server so it can be ended.

The browser's cookie holds only a random id; `browser` is its keyed hash (the same binding one-time
codes are tied to). A row records the factors the browser proved (`email`, `sms`) and how it got
access (the verification steps, a case link in a letter, a fresh code); it lasts until `expires_at`
and ends for good at `revoked_at`. `case_link_message_id` is the letter whose case link made the
row: unique, so a letter's link opens the case once.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.types import UTCDateTime


class CaseAccess(Base):
    __tablename__ = "case_accesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"))
    browser: Mapped[str] = mapped_column(sa.String(64))
    #: "verification" (the codes, or the verification link), "case_link" or "code" (a fresh one)
    via: Mapped[str] = mapped_column(sa.String(20))
    #: the factors proven, sorted and joined by "+": "email", "email+sms"
    factors: Mapped[str] = mapped_column(sa.String(40), default="")
    #: no foreign key: a message is only the single-use id its link carried
    case_link_message_id: Mapped[int | None] = mapped_column(sa.Integer, unique=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the last right code before a download (DOWNLOAD_FRESH_SECONDS counts from it)
    download_proven_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_case_accesses_request_browser", "request_id", "browser"),)
