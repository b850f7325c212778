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
