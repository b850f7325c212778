"""Enqueue intents, committed with the change that caused them and relayed to RQ after the commit."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.types import UTCDateTime


class OutboxJob(Base):
    __tablename__ = "outbox_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_name: Mapped[str] = mapped_column(sa.String(64))
    #: ids only (ints and short strings): job signatures are a wire contract
    args: Mapped[list] = mapped_column(sa.JSON, default=list)
    queue: Mapped[str] = mapped_column(sa.String(32))
    #: not before this instant (delayed work such as reminders and retries lives here, not in Redis)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    request_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: bumped at every new publication (a retry, or after Redis lost the job): part of the RQ job id
    publish_count: Mapped[int] = mapped_column(default=0)
    #: failed attempts so far; a failure with retries left schedules the next one via run_at
    attempts: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))

    __table_args__ = (
        sa.Index("ix_outbox_jobs_unfinished", "completed_at", "failed_at", "published_at", "id"),
    )
