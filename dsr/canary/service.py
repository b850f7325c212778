"""The nightly canary: each system with a `canary` test identity is asked for it (located and exported)
once a day, by its own job on the connectors' queue. The result is kept per system (SystemCanary); the
shape of the answer (its collections and their fields) is compared with the previous night's.

A system that stops answering, no longer finds the test identity, or answers in another shape is shown
on the staff dashboard and mailed to every active officer and admin, once per problem; the first good
night clears it. A changed shape becomes the shape compared with from then on, so a vendor's new field
alerts once, not every night.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.canary.check import CheckReport, check_system, shape_change
from dsr.connectors.registry import System, get_systems
from dsr.db import utcnow
from dsr.links import external_url
from dsr.models import Message, MessageDirection, StaffRole, StaffUser, SystemCanary
from dsr.notify.service import queue_email
from dsr.queue import QUEUE_CONNECTORS, QUEUE_DEFAULT, defer, job

log = logging.getLogger(__name__)

ALERT_TEMPLATE = "staff_system_canary"
DAY = 86400


@dataclass(frozen=True)
class SystemHealth:
    """One row of the dashboard's table of connected systems."""

    key: str
    name: str
    template: str | None
    canary: SystemCanary | None  # None: never checked, or no test identity declared
    has_canary: bool


def record_check(session: orm.Session, system: System, report: CheckReport) -> SystemCanary:
    """Store one night's result and mail staff about a new problem (in the caller's transaction)."""
    row = session.get(SystemCanary, system.key) or SystemCanary(system_key=system.key)
    now = utcnow()
    problem = report.error
    if problem is None and not report.found:
        problem = "the test identity was not found (was it deleted, or does the lookup no longer work?)"
    changed = shape_change(row.shape, report.shape) if problem is None and row.shape else None
    if changed:
        problem = f"the answer changed shape: {changed}"
    was_ok = row.ok if row.checked_at is not None else True
    row.checked_at, row.seconds, row.records = now, round(report.seconds, 3), report.records
    if report.error is None and report.found:
        row.shape = report.shape  # the shape compared with next time
    row.ok, row.problem = problem is None, problem[:500] if problem else None
    if row.ok:
        row.failing_since, row.alerted_at = None, None
    elif was_ok or changed:
        row.failing_since = row.failing_since if not was_ok else now
        row.alerted_at = now
        _alert(session, system, row)
    session.add(row)
    session.flush()
    return row


def _alert(session: orm.Session, system: System, row: SystemCanary) -> None:
    staff = session.scalars(sa.select(StaffUser).where(
        StaffUser.active.is_(True), StaffUser.role.in_([StaffRole.ADMIN, StaffRole.OFFICER])).order_by(StaffUser.id))
    day = row.checked_at.date().isoformat()
    for person in staff:
        key = f"canary:{system.key}:{person.id}:{day}"
        if session.scalar(sa.select(Message.id).where(Message.dedupe_key == key)) is not None:
            continue  # told today already (a check on demand, then the night's)
        queue_email(session, to=person.email, template=ALERT_TEMPLATE, language="en",
                    direction=MessageDirection.TO_STAFF, dedupe_key=key,
                    context={"staff_name": person.display_name, "system_name": system.name, "system_key": system.key,
                             "problem": row.problem, "checked_at": row.checked_at,
                             "dashboard_url": external_url("cases.dashboard")})
    log.warning("canary: system %s has a problem", system.key)


def health(session: orm.Session) -> list[SystemHealth]:
    """Every declared system with its last canary result, in systems.toml order."""
    rows = {row.system_key: row for row in session.scalars(sa.select(SystemCanary))}
    return [SystemHealth(key, system.name, system.template, rows.get(key), system.canary is not None)
            for key, system in get_systems(current_app).items()]


def run_canary(session: orm.Session, system_key: str) -> SystemCanary | None:
    system = get_systems(current_app).get(system_key)
    if system is None or system.canary is None:
        return None
    return record_check(session, system, check_system(system, system.canary))


@job(QUEUE_CONNECTORS, retries=0)
def canary_system(session: orm.Session, system_key: str) -> str:
    """One system's nightly check (no retries: a failure is the finding, and tomorrow comes)."""
    row = run_canary(session, system_key)
    return "skipped" if row is None else ("ok" if row.ok else "problem")


@job(QUEUE_DEFAULT, every=DAY)
def schedule_canaries(session: orm.Session) -> int:
    """Once a day: a check per system that declares a test identity, each its own job."""
    keys = [key for key, system in get_systems(current_app).items() if system.canary is not None]
    for key in keys:
        defer(session, canary_system, key)
    return len(keys)
