"""The queue: open cases (and requests waiting for staff to establish identity) by deadline, with
keyset pagination that stays fast however many closed cases pile up, and the register export.

Each status is read with its own small query on ix_subject_requests_status_deadline
(status, deadline_on, id): `status = ? AND (deadline_on, id) > (?, ?) ORDER BY deadline_on, id
LIMIT n` is one index range scan, on SQLite and PostgreSQL alike. The few per-status pages are
merged in Python; an `IN (...)` over the statuses would instead sort every open case per page.
"""

from __future__ import annotations

import csv
import heapq
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.cases.states import OPEN_STATUSES
from dsr.crypto import email_digests
from dsr.models import RequestStatus, Right, StaffUser, SubjectRequest

PAGE_SIZE = 50
_REFERENCE = re.compile(r"^(?:DSR-?)?([0-9A-Z]{4})-?([0-9A-Z]{4})$")


@dataclass(frozen=True)
class Cursor:
    deadline_on: date
    id: int

    def encode(self) -> str:
        return f"{self.deadline_on.isoformat()}.{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        day, _, ident = (text or "").partition(".")
        try:
            return cls(date.fromisoformat(day), int(ident))
        except ValueError:
            return None


@dataclass(frozen=True)
class QueueFilter:
    right: Right | None = None
    status: RequestStatus | None = None
    assignee: str | None = None  # "none", or a staff id as text
    overdue: bool = False
    search: str = ""
    #: viewers see identifiers masked: an e-mail search would still tell them whether someone has a case
    reference_only: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[SubjectRequest]
    next_cursor: Cursor | None


def reference_from(text: str) -> str | None:
    match = _REFERENCE.match(text.strip().upper().replace(" ", ""))
    return f"DSR-{match.group(1)}-{match.group(2)}" if match else None


def _filtered(query: sa.Select, filters: QueueFilter, today: date) -> sa.Select:
    if filters.right is not None:
        query = query.where(SubjectRequest.right == filters.right)
    if filters.assignee == "none":
        query = query.where(SubjectRequest.assignee_id.is_(None))
    elif filters.assignee and filters.assignee.isdigit():
        query = query.where(SubjectRequest.assignee_id == int(filters.assignee))
    if filters.overdue:
        query = query.where(SubjectRequest.deadline_on < today)
    return query


def _search_condition(text: str, reference_only: bool):
    text = text.strip()
    reference = reference_from(text)
    if reference:
        return SubjectRequest.reference == reference
    if reference_only:
        return sa.false()
    # Exact address, as typed or lower-cased: both stay on the e-mail index; a reduced case by its digest.
    return sa.or_(SubjectRequest.email.in_(sorted({text, text.lower()})),
                  SubjectRequest.email_digest.in_(email_digests(text)))


def status_page_query(
    status: RequestStatus, filters: QueueFilter, today: date, after: Cursor | None, limit: int,
    *, held_only: bool = False,
) -> sa.Select:
    """One status's slice of the queue (exposed so tests and bench/queue.py can read its plan);
    `held_only`: only requests waiting for staff to establish identity (identity_hold)."""
    query = sa.select(SubjectRequest).where(
        SubjectRequest.status == status, SubjectRequest.deadline_on.is_not(None)
    )
    if held_only:
        query = query.where(SubjectRequest.identity_hold.is_not(None))
    if after is not None:
        query = query.where(
            sa.tuple_(SubjectRequest.deadline_on, SubjectRequest.id)
            > sa.tuple_(sa.literal(after.deadline_on, sa.Date), sa.literal(after.id))
        )
    query = _filtered(query, filters, today)
    return query.order_by(SubjectRequest.deadline_on, SubjectRequest.id).limit(limit)


def queue_page(
    session: orm.Session,
    filters: QueueFilter,
    *,
    today: date,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    if filters.search.strip():
        return _search_page(session, filters, today, after, limit)
    statuses = [filters.status] if filters.status else list(OPEN_STATUSES)
    undated: list[SubjectRequest] = []
    if after is None:
        # Cases without stored dates should not exist (open_case stores them); if one does, it is
        # shown first rather than lost at the end of the queue.
        undated = list(
            session.scalars(
                _filtered(
                    sa.select(SubjectRequest).where(
                        SubjectRequest.status.in_(statuses), SubjectRequest.deadline_on.is_(None)
                    ),
                    filters,
                    today,
                )
                .order_by(SubjectRequest.id)
                .limit(limit)
            )
        )
    slices = [
        session.scalars(status_page_query(status, filters, today, after, limit + 1)).all()
        for status in statuses
    ]
    if filters.status is None:
        # Unverified requests stay out of the queue, except those only staff can verify.
        held = status_page_query(RequestStatus.AWAITING_VERIFICATION, filters, today, after, limit + 1,
                                 held_only=True)
        slices.append(session.scalars(held).all())
    merged = list(heapq.merge(*slices, key=lambda r: (r.deadline_on, r.id)))
    rows = merged[:limit]
    next_cursor = Cursor(rows[-1].deadline_on, rows[-1].id) if len(merged) > limit else None
    return Page(rows=undated + rows, next_cursor=next_cursor)


def _search_page(session, filters: QueueFilter, today: date, after: Cursor | None, limit: int) -> Page:
    query = sa.select(SubjectRequest).where(_search_condition(filters.search, filters.reference_only))
    if filters.status is not None:
        query = query.where(SubjectRequest.status == filters.status)
    query = _filtered(query, filters, today)
    rows = list(
        session.scalars(
            query.order_by(SubjectRequest.received_at.desc(), SubjectRequest.id.desc()).limit(limit)
        )
    )
    return Page(rows=rows, next_cursor=None)


# --- the register (CSV) -----------------------------------------------------------------------------

REGISTER_COLUMNS = (
    "reference",
    "right",
    "status",
    "channel",
    "language",
    "email",
    "received_at",
    "verified_at",
    "identity_method",
    "due_on",
    "extension_notice_due_on",
    "extended_at",
    "extended_due_on",
    "assignee",
    "decided_at",
    "rejection_code",
    "closed_at",
)
_FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A value as a CSV cell that spreadsheet programs will not run as a formula (ASVS 1.2.10)."""
    text = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    return "'" + text if text.startswith(_FORMULA_LEADERS) else text


def register_csv(new_session: Callable[[], orm.Session], *, mask, batch: int = 500) -> Iterator[str]:
    """The whole register, oldest first, streamed in chunks; `mask(email)` hides identifiers for viewers.

    Each chunk is read in its own short transaction (keyset on id) from a session of its own, so a
    slow or abandoned download never holds a database transaction (or PostgreSQL locks) open.
    """
    with new_session() as session:
        staff = dict(session.execute(sa.select(StaffUser.id, StaffUser.email)).all())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REGISTER_COLUMNS)
    last_id = 0
    while True:
        with new_session() as session:
            rows = session.scalars(sa.select(SubjectRequest).where(SubjectRequest.id > last_id)
                                   .order_by(SubjectRequest.id).limit(batch)).all()
        for request in rows:
            values = {column: getattr(request, column, None) for column in REGISTER_COLUMNS}
            values["email"] = mask(request.email)
            values["assignee"] = staff.get(request.assignee_id)
            writer.writerow([csv_cell(values[column]) for column in REGISTER_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch:
            return
        last_id = rows[-1].id
