"""Case jobs: the hourly deadline-reminder sweep (it sends at most one reminder per case, person and day)."""

from __future__ import annotations

from flask import current_app

from dsr.db import utcnow
from dsr.deadlines.reminders import send_reminders
from dsr.deadlines.rules import local_date
from dsr.jobs import QUEUE_DEFAULT
from workers.registry import job


@job(QUEUE_DEFAULT, every=3600)
def remind_deadlines(session) -> int:
    controller = current_app.extensions["dsr.controller"]
    days = tuple(int(d) for d in current_app.config["REMINDER_DAYS_BEFORE"])
    return send_reminders(session, controller, local_date(utcnow(), controller.timezone), days)
