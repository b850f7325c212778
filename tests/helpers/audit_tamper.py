"""Tests that play an attacker rewriting the audit table: on PostgreSQL the append-only trigger refuses
UPDATE and DELETE, so they switch it off first, as only the table's owner could."""
from __future__ import annotations

from contextlib import contextmanager

TRIGGER = "audit_events_append_only"


@contextmanager
def tampering(session):
    """Run the block's changes to audit_events and commit them (the trigger is off meanwhile)."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        session.connection().exec_driver_sql(f"ALTER TABLE audit_events DISABLE TRIGGER {TRIGGER}")
    yield
    session.flush()
    if postgresql:
        session.connection().exec_driver_sql(f"ALTER TABLE audit_events ENABLE TRIGGER {TRIGGER}")
    session.commit()
