"""Every staff action is in the audit chain; no page can change it; tampering with one row is found."""

from __future__ import annotations

import sqlalchemy as sa

from dsr.models import AuditEvent, RequestStatus, StaffRole
from tests.helpers.audit_tamper import tampering
from tests.helpers.staff import enrolled_staff, login


def test_staff_actions_are_chained_and_a_changed_row_is_named(app, client, session, runner, make_request):
    officer, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    case = make_request(status=RequestStatus.OPEN)
    login(client, officer, secret)
    client.post(f"/staff/cases/{case.id}/notes", data={"note-text": "Checked the CRM."})
    client.post(f"/staff/cases/{case.id}/extend", data={"reason": "Many systems."})
    client.post(f"/staff/cases/{case.id}/approve")
    client.post("/staff/logout")
    actions = session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    # Approving an access case starts the export from every connected system in the same transaction.
    assert actions == ["staff.login", "case.note_added", "case.extended", "export.started", "case.approved",
                       "staff.logout"]
    assert runner.invoke(args=["dsr", "audit-verify"]).output == "OK 6\n"

    extended = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "case.extended"))
    with tampering(session):  # on PostgreSQL the table refuses UPDATE unless its owner disables the trigger
        session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.seq == extended.seq)
            .values(details={**extended.details, "extended_due_on": "2099-01-01"})
        )
    result = runner.invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 1 and result.stdout == f"BAD {extended.seq}\n"


def test_no_endpoint_edits_or_deletes_the_audit_log(app):
    for rule in app.url_map.iter_rules():
        assert "audit" not in rule.rule or rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule
