"""Verification opens the case; consent withdrawal and direct-marketing objection skip the approval gate."""
from __future__ import annotations

import pytest

from dsr.audit.service import verify
from dsr.cases.opening import DIRECT_MARKETING, open_case
from dsr.cases.states import IllegalTransition
from dsr.models import AuditEvent, RequestStatus, Right


def test_a_verified_access_request_waits_for_triage(session, make_request):
    request = make_request(right=Right.ACCESS, status=RequestStatus.AWAITING_VERIFICATION)
    open_case(session, request, method="email_code+sms_code")
    session.commit()
    assert request.status is RequestStatus.OPEN and request.verified_at is not None
    assert request.identity_method == "email_code+sms_code"
    actions = [e.action for e in session.query(AuditEvent).order_by(AuditEvent.seq)]
    assert actions == ["case.opened"] and verify(session).ok


@pytest.mark.parametrize(("right", "details"), [
    (Right.WITHDRAW_CONSENT, {"consent": "newsletter"}),
    (Right.OBJECTION, {"processing": DIRECT_MARKETING}),
])
def test_immediate_effect_rights_are_approved_at_once(session, make_request, right, details):
    request = make_request(right=right, details=details, status=RequestStatus.AWAITING_VERIFICATION)
    open_case(session, request, method="email_code")
    session.commit()
    assert request.status is RequestStatus.IN_PROGRESS and request.decided_at is not None
    # The stop starts in the systems that declare the processing, in the same transaction (issue 12).
    assert [e.action for e in session.query(AuditEvent).order_by(AuditEvent.seq)] == ["case.opened",
                                                                                      "actions.started",
                                                                                      "case.approved"]


def test_an_objection_to_other_processing_needs_a_decision(session, make_request):
    request = make_request(right=Right.OBJECTION, details={"processing": "profiling"},
                           status=RequestStatus.AWAITING_VERIFICATION)
    open_case(session, request, method="email_code")
    assert request.status is RequestStatus.OPEN


def test_a_case_cannot_be_opened_twice(session, make_request):
    request = make_request(status=RequestStatus.OPEN)
    with pytest.raises(IllegalTransition):
        open_case(session, request, method="email_code")
