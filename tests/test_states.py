"""The transition table: what staff and subjects may do in each status."""
from __future__ import annotations

import pytest

from dsr.cases.states import FINAL, TRANSITIONS, Action, IllegalTransition, allowed_actions, next_status
from dsr.models import RequestStatus as S


def test_verification_opens_the_case_and_approval_starts_work():
    assert next_status(S.AWAITING_VERIFICATION, Action.VERIFY) is S.OPEN
    assert next_status(S.OPEN, Action.APPROVE) is S.IN_PROGRESS


@pytest.mark.parametrize("status", sorted(FINAL))
def test_nothing_moves_a_closed_request(status):
    assert allowed_actions(status) == []
    with pytest.raises(IllegalTransition, match=f"that is {status.value.replace('_', ' ')}"):
        next_status(status, Action.APPROVE)


def test_an_unverified_request_cannot_be_approved():
    with pytest.raises(IllegalTransition, match="cannot approve a request that is awaiting verification"):
        next_status(S.AWAITING_VERIFICATION, Action.APPROVE)


def test_every_open_case_can_be_withdrawn_extended_and_assigned():
    for status in (S.OPEN, S.AWAITING_SUBJECT, S.IN_PROGRESS, S.READY_FOR_REVIEW):
        assert next_status(status, Action.WITHDRAW) is S.WITHDRAWN
        assert next_status(status, Action.EXTEND) is status
        assert next_status(status, Action.ASSIGN) is status


def test_every_status_is_reachable_from_receipt():
    reachable, frontier = {S.AWAITING_VERIFICATION}, [S.AWAITING_VERIFICATION]
    while frontier:
        current = frontier.pop()
        for (source, _action), target in TRANSITIONS.items():
            if source is current and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(S)
