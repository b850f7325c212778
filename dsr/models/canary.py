"""The nightly canary's last word on each connected system (dsr.canary.service): one row per system.

Counts, field names and the problem in words; never a value from the system.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base
from dsr.models.types import UTCDateTime


class SystemCanary(Base):
    __tablename__ = "system_canaries"

    system_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(default=True)
    #: what is wrong, in words for staff (no personal data): an error, a vanished test identity, a new shape
    problem: Mapped[str | None] = mapped_column(sa.String(500))
    records: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)  # collection -> records
    #: collection -> field names: the shape the next run is compared with
    shape: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    seconds: Mapped[float | None] = mapped_column(sa.Float)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: staff were mailed about the current problem (cleared once the system is fine again)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<SystemCanary {self.system_key} ok={self.ok}>"
