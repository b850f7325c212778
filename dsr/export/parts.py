"""The parts of an answer to an access or portability request.

Staff may release a partial bundle when some systems failed: it answers for the systems it holds, and
the case stays open for the others, with the request's own legal due date. When they succeed (a retry),
the second bundle holds only those systems. It holds nothing of the first part's systems on purpose: the
subject has those already, and collecting them again would give a second, different snapshot of data
already answered for. Each bundle records the systems it answers for (`ExportBundle.systems`).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.models import BundleStatus, ExportBundle, SystemTask, TaskAction
from dsr.tasks.pipeline import tasks_of

#: a bundle still being made or reviewed (at most one per case at a time)
OPEN_STATES = (BundleStatus.ASSEMBLING, BundleStatus.READY_FOR_REVIEW, BundleStatus.FAILED)
#: a bundle the subject was given (its file may have expired since)
GIVEN_STATES = (BundleStatus.RELEASED, BundleStatus.EXPIRED)


def open_bundle(session: orm.Session, request_id: int) -> ExportBundle | None:
    return session.scalars(sa.select(ExportBundle).where(ExportBundle.request_id == request_id,
                                                         ExportBundle.status.in_(OPEN_STATES))
                           .order_by(ExportBundle.id.desc()).limit(1)).first()


def given_bundles(session: orm.Session, request_id: int) -> list[ExportBundle]:
    """The parts released to the subject, in order."""
    return list(session.scalars(sa.select(ExportBundle).where(ExportBundle.request_id == request_id,
                                                              ExportBundle.status.in_(GIVEN_STATES))
                                .order_by(ExportBundle.part)))


def answered_systems(given: list[ExportBundle]) -> set[str]:
    return {key for bundle in given for key in (bundle.systems or ())}


def owed_tasks(session: orm.Session, request_id: int) -> list[SystemTask]:
    """The export tasks of the systems no released part answered for yet (all of them before a release)."""
    answered = answered_systems(given_bundles(session, request_id))
    return [task for task in tasks_of(session, request_id, TaskAction.EXPORT) if task.system_key not in answered]


def next_part(session: orm.Session, request_id: int) -> int:
    return len(given_bundles(session, request_id)) + 1
