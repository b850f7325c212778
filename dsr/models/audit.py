"""The hash-chained, append-only audit log. Entries hold ids, action names and hashes, never personal data."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.types import UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"

    #: position in the chain, assigned under a lock (no gaps, no autoincrement surprises)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_type: Mapped[str] = mapped_column(sa.String(16))  # staff | subject | system
    actor_id: Mapped[str | None] = mapped_column(sa.String(40))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    #: the case id, kept as a plain integer so the chain outlives the case row
    request_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    #: HMAC-SHA256 of `hash` under AUDIT_KEY, a key kept outside the database (None: written before
    #: the key existed)
    mac: Mapped[str | None] = mapped_column(sa.String(64))
