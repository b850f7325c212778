"""The dashboard's figures: open, due this week, overdue, median days to close per right over the last
12 months, and how each connected system answered its nightly canary check (dsr.canary)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.canary.service import SystemHealth, health
from dsr.cases.states import OPEN_STATUSES
from dsr.db import utcnow
from dsr.models import Right, SubjectRequest


@dataclass(frozen=True)
class RightFigure:
    right: Right
    closed: int
    median_days: float | None


@dataclass(frozen=True)
class Dashboard:
    open: int
    due_this_week: int
    overdue: int
    per_right: list[RightFigure]
    systems: list[SystemHealth]

    @property
    def systems_failing(self) -> list[SystemHealth]:
        return [row for row in self.systems if row.canary is not None and not row.canary.ok]

    @property
    def longest_median(self) -> float:
        return max((f.median_days or 0 for f in self.per_right), default=0) or 1


def _count(session: orm.Session, *conditions) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(SubjectRequest)
            .where(SubjectRequest.status.in_(OPEN_STATUSES), *conditions)
        )
        or 0
    )


def dashboard(session: orm.Session, today: date) -> Dashboard:
    since = utcnow() - timedelta(days=365)
    closed = session.execute(
        sa.select(SubjectRequest.right, SubjectRequest.received_at, SubjectRequest.closed_at).where(
            SubjectRequest.closed_at.is_not(None), SubjectRequest.closed_at >= since
        )
    )
    durations: dict[Right, list[float]] = {right: [] for right in Right}
    for right, received_at, closed_at in closed:
        durations[right].append((closed_at - received_at).total_seconds() / 86400)
    per_right = [
        RightFigure(right, len(values), round(statistics.median(values), 1) if values else None)
        for right, values in durations.items()
    ]
    return Dashboard(
        open=_count(session),
        due_this_week=_count(
            session,
            SubjectRequest.deadline_on >= today,
            SubjectRequest.deadline_on <= today + timedelta(days=7),
        ),
        overdue=_count(session, SubjectRequest.deadline_on < today),
        per_right=per_right,
        systems=health(session),
    )
