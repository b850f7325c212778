"""Where the subject was found: one row per (request, connected system), written by the lookup job.

`ref` is the connector's `SubjectRef.to_json()` (keys found, and the contact details on file);
the export and action areas rebuild it with `SubjectRef.from_json`. `error` is set instead when
the system could not answer (a message safe to show staff, no personal data). The phones in
`ref` are the only copy the portal keeps of the numbers on file; they go with the case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.types import UTCDateTime


class SubjectLocation(Base):
    __tablename__ = "subject_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True
    )
    system_key: Mapped[str] = mapped_column(sa.String(64))
    #: the system holds something on this subject (ref.found)
    found: Mapped[bool] = mapped_column(default=False)
    ref: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.String(300))
    located_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("request_id", "system_key"),)

    def __repr__(self) -> str:
        return f"<SubjectLocation {self.request_id} {self.system_key} found={self.found}>"
