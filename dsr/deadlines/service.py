"""Keeps a request's stored deadline fields in step with the legal clock (dsr.deadlines.rules).

The dates are stored so the queue can sort and filter in SQL; they are recomputed whenever
something that moves them changes: receipt, a pause starting or ending, an extension. The controller's
promise (`answer_within_days`) is applied here, from the controller's facts.
"""
from __future__ import annotations

from datetime import date, datetime

from dsr.controller import Controller
from dsr.deadlines.rules import MAX_EXTENSION_MONTHS, Deadlines, Pause, compute_deadlines
from dsr.models import SubjectRequest


def deadlines_for(request: SubjectRequest, controller: Controller, now: datetime | None = None,
                  extension_months: int | None = None) -> Deadlines:
    """The case's dates; extended_due_on for its extension (or, before one, for `extension_months`,
    by default the longest the law allows)."""
    pauses = [Pause(started_at=p.started_at, ended_at=p.ended_at) for p in request.pauses]
    months = extension_months or request.extension_months or MAX_EXTENSION_MONTHS
    return compute_deadlines(request.received_at, tz=controller.timezone, country=controller.holiday_country,
                             pauses=pauses, now=now, extension_months=months,
                             promised_days=controller.answer_within_days)


def extension_options(request: SubjectRequest, controller: Controller) -> dict[int, date]:
    """Months of extension -> the deadline it would give, for the staff member choosing."""
    return {months: deadlines_for(request, controller, extension_months=months).extended_due_on
            for months in range(MAX_EXTENSION_MONTHS, 0, -1)}


def refresh_deadlines(request: SubjectRequest, controller: Controller, now: datetime | None = None) -> Deadlines:
    """Recompute and store due_on, extension_notice_due_on, extended_due_on and the binding deadline_on."""
    deadlines = deadlines_for(request, controller, now)
    request.due_on = deadlines.due_on
    request.extension_notice_due_on = deadlines.extension_notice_due_on
    request.extended_due_on = deadlines.extended_due_on
    request.deadline_on = deadlines.extended_due_on if request.extended_at else deadlines.due_on
    return deadlines
