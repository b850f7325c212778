"""A lease in the database: how a long job shows other workers it is alive, and how a job whose worker
died is found (its lease lapses) and handed to a new job by a sweeper.

The one place, besides the @job decorator, where a job's session commits: taking, renewing and giving
back a lease must be visible to other workers at once, while the job itself is still running.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.db import utcnow


class LeaseLost(Exception):
    """Another worker took the work over (our lease lapsed): stop without writing anything."""


class Lease:
    """The lease on one row of `model` (which has `id` and `lease_until`), held while `guard` (extra
    WHERE conditions, e.g. our attempt number and state) still matches. Renewals commit at most every
    third of the lease, carrying progress values along."""

    def __init__(self, session: orm.Session, model, row_id: int, seconds: float, guard: tuple = ()):
        self.session, self.model, self.row_id = session, model, row_id
        self.seconds, self.guard = float(seconds), guard
        self.interval = min(self.seconds / 3, 5.0)  # often enough for progress on a page, well within the lease
        self.last = time.monotonic()

    def until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.seconds)

    def _where(self):
        return (self.model.id == self.row_id, *self.guard)

    def renew(self, **values: Any) -> None:
        """Extend the lease now (and store `values`); raises LeaseLost when the row is no longer ours."""
        renewed = self.session.execute(sa.update(self.model).where(*self._where())
                                       .values(lease_until=self.until(), **values)).rowcount
        self.session.commit()
        self.last = time.monotonic()
        if not renewed:
            raise LeaseLost()

    def renew_due(self, **values: Any) -> None:
        """Renew when a third of the interval has passed since the last renewal."""
        if time.monotonic() - self.last >= self.interval:
            self.renew(**values)

    def commit(self) -> None:
        """Commit what the job has written so far (e.g. the row that takes the lease) in one go."""
        self.session.commit()
        self.last = time.monotonic()


def take(session: orm.Session, model, row_id: int, seconds: float, *, when: tuple,
         values: Mapping[str, Any], returning=None):
    """Compare-and-set: take the row's lease when `when` holds (free, or a lapsed lease), setting
    `values`; commits. Returns the `returning` column's value (or True), None when not taken."""
    statement = (sa.update(model).where(model.id == row_id, *when)
                 .values(lease_until=utcnow() + timedelta(seconds=float(seconds)), **values))
    if returning is not None:
        taken = session.execute(statement.returning(returning)).scalar()
    else:
        taken = session.execute(statement).rowcount or None
    session.commit()
    return taken
