"""The hash-chained audit log: verifiable, tamper-evident, free of personal data."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsr.audit.service import AuditDetailError, record, verify
from dsr.models import AuditEvent
from tests.helpers.audit_tamper import tampering


def _chain(session, n=5):
    for i in range(n):
        record(session, "case.viewed", actor_type="staff", actor_id=7, request_id=100 + i, field="status")
    session.commit()


def test_an_intact_chain_verifies(session, runner):
    _chain(session)
    assert verify(session).ok
    result = runner.invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 0 and result.output.strip() == "OK 5"


def test_changing_one_row_in_the_database_names_that_row(session, runner):
    _chain(session)
    with tampering(session):  # on PostgreSQL the table refuses UPDATE unless its owner disables the trigger
        session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 3).values(action="case.approved"))
    result = runner.invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 1 and result.stdout.strip() == "BAD 3"


def test_deleting_a_row_is_detected_at_the_gap(session, runner):
    _chain(session)
    with tampering(session):
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 2))
    assert runner.invoke(args=["dsr", "audit-verify"]).stdout.strip() == "BAD 2"


@pytest.mark.parametrize("value", ["kari@example.org", "Kari Nordmann", "+47 912 34 567"])
def test_personal_data_is_refused_in_details(session, value):
    with pytest.raises(AuditDetailError):
        record(session, "case.viewed", actor_type="staff", actor_id=1, note=value)


def test_events_join_the_chain_with_their_transaction_and_leave_with_a_rolled_back_savepoint(session):
    record(session, "case.viewed", actor_type="staff", actor_id=1, request_id=1)
    try:
        with session.begin_nested():  # e.g. a racing double submit: the savepoint's work is undone
            record(session, "case.approved", actor_type="staff", actor_id=1, request_id=1)
            raise RuntimeError("undone")
    except RuntimeError:
        pass
    with session.begin_nested():  # a savepoint that holds: its event waits for the commit
        record(session, "case.extended", actor_type="staff", actor_id=1, request_id=1)
    session.commit()
    record(session, "case.rejected", actor_type="staff", actor_id=1, request_id=1)
    session.rollback()  # the whole transaction undone: its event is gone too
    session.commit()
    rows = session.execute(sa.select(AuditEvent.seq, AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert [(seq, action) for seq, action in rows] == [(1, "case.viewed"), (2, "case.extended")]
    assert verify(session).ok
