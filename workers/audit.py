"""Audit jobs: once a day, the head of the audit chain goes to a file the database cannot change."""

from __future__ import annotations

from flask import current_app

from dsr.audit.service import write_audit_head
from dsr.jobs import QUEUE_DEFAULT
from workers.registry import job


@job(QUEUE_DEFAULT, every=86400)
def record_audit_head(session) -> str:
    return write_audit_head(session, current_app.config["AUDIT_HEAD_FILE"])
