"""One unit of work per (case, connected system, action): the DB is the source of truth, RQ the transport."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import TaskAction, TaskState
from dsr.models.types import StrEnumType, UTCDateTime


class SystemTask(Base):
    __tablename__ = "system_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    system_key: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[TaskAction] = mapped_column(StrEnumType(TaskAction))
    state: Mapped[TaskState] = mapped_column(StrEnumType(TaskState), default=TaskState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    records: Mapped[int] = mapped_column(default=0)  # progress shown on the case page
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    #: a running task whose lease passed belongs to a dead worker: the sweeper re-queues it
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_on: Mapped[date | None] = mapped_column(sa.Date)  # manual tasks have their own due date
    #: the export's spool and collections; an action's frozen ref, plan, proof and outcome
    result: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: an action's plan was approved by staff (or by the rules: auto-apply, immediate effect)
    plan_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    plan_approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    #: four-eyes erasure: the first officer's approval of the plan is a proposal; a second approves
    plan_proposed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("request_id", "system_key", "action"),)
