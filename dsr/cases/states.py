"""Every status change of a request, in one table. Anything not listed is refused with a message."""
from __future__ import annotations

from enum import StrEnum

from dsr.models import RequestStatus as S


class Action(StrEnum):
    VERIFY = "verify"  # identity proven: the request becomes a case
    EXPIRE = "expire"  # never verified within the limit
    WITHDRAW = "withdraw"  # the subject takes the request back
    APPROVE = "approve"
    REJECT = "reject"
    ASK_SUBJECT = "ask_subject"  # staff ask the subject for information
    SUBJECT_ANSWERED = "subject_answered"
    RESUME_WORK = "resume_work"  # the subject answered a question asked after approval: work goes on
    EXTEND = "extend"
    ASSIGN = "assign"
    BUNDLE_READY = "bundle_ready"  # every system is done and the export is assembled
    RELEASE = "release"  # staff release the reviewed export to the subject
    RELEASE_PART = "release_part"  # staff release a partial export: the case stays open for the rest
    COMPLETE = "complete"  # the answer is given
    REOPEN_WORK = "reopen_work"  # e.g. retry a system after review found a gap
    CHARGE_FEE = "charge_fee"  # Art. 12(5), 15(3): the request waits for a fee to be paid
    FEE_SETTLED = "fee_settled"  # the fee was paid or waived: the request is decided again
    ANSWER_NO_DATA = "answer_no_data"  # access, portability: the answer is that we hold no data on the subject


#: a case staff still have to answer (verified, not closed)
OPEN_STATUSES = (S.OPEN, S.AWAITING_SUBJECT, S.AWAITING_PAYMENT, S.IN_PROGRESS, S.READY_FOR_REVIEW)

TRANSITIONS: dict[tuple[S, Action], S] = {
    (S.AWAITING_VERIFICATION, Action.VERIFY): S.OPEN,
    (S.AWAITING_VERIFICATION, Action.EXPIRE): S.EXPIRED,
    (S.AWAITING_VERIFICATION, Action.WITHDRAW): S.WITHDRAWN,
    # A request registered by staff whose sender could not be identified is refused with reasons (Art. 12(2)).
    (S.AWAITING_VERIFICATION, Action.REJECT): S.REJECTED,
    (S.OPEN, Action.APPROVE): S.IN_PROGRESS,
    (S.OPEN, Action.REJECT): S.REJECTED,
    (S.OPEN, Action.ASK_SUBJECT): S.AWAITING_SUBJECT,
    (S.AWAITING_SUBJECT, Action.SUBJECT_ANSWERED): S.OPEN,
    (S.AWAITING_SUBJECT, Action.REJECT): S.REJECTED,
    (S.AWAITING_SUBJECT, Action.APPROVE): S.IN_PROGRESS,
    (S.AWAITING_SUBJECT, Action.RESUME_WORK): S.IN_PROGRESS,
    (S.IN_PROGRESS, Action.ASK_SUBJECT): S.AWAITING_SUBJECT,
    (S.IN_PROGRESS, Action.BUNDLE_READY): S.READY_FOR_REVIEW,
    (S.IN_PROGRESS, Action.COMPLETE): S.COMPLETED,
    (S.READY_FOR_REVIEW, Action.RELEASE): S.COMPLETED,
    (S.READY_FOR_REVIEW, Action.RELEASE_PART): S.IN_PROGRESS,
    (S.READY_FOR_REVIEW, Action.REOPEN_WORK): S.IN_PROGRESS,
    (S.OPEN, Action.CHARGE_FEE): S.AWAITING_PAYMENT,
    (S.AWAITING_PAYMENT, Action.FEE_SETTLED): S.OPEN,
    (S.AWAITING_PAYMENT, Action.REJECT): S.REJECTED,  # e.g. the fee was never paid (Art. 12(5)(b))
    # "We hold no data about you" is an answer (Art. 15(1): confirmation), given once every system was searched.
    (S.OPEN, Action.ANSWER_NO_DATA): S.COMPLETED,
    (S.AWAITING_SUBJECT, Action.ANSWER_NO_DATA): S.COMPLETED,
    (S.READY_FOR_REVIEW, Action.ANSWER_NO_DATA): S.COMPLETED,
    **{(status, Action.WITHDRAW): S.WITHDRAWN for status in OPEN_STATUSES},
    # Extending and assigning keep the status; they are still checked against this table.
    **{(status, Action.EXTEND): status for status in OPEN_STATUSES},
    **{(status, Action.ASSIGN): status for status in OPEN_STATUSES},
}

FINAL = frozenset({S.COMPLETED, S.REJECTED, S.WITHDRAWN, S.EXPIRED})


class IllegalTransition(ValueError):
    def __init__(self, status: S, action: Action):
        self.status, self.action = status, action
        super().__init__(f"cannot {action.value.replace('_', ' ')} a request that is {status.value.replace('_', ' ')}")


def next_status(status: S, action: Action) -> S:
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise IllegalTransition(status, action) from None


def allowed_actions(status: S) -> list[Action]:
    return [action for (source, action) in TRANSITIONS if source is status]


def apply(request, action: Action) -> S:
    """Move `request` (a SubjectRequest) along the table; returns the new status."""
    request.status = next_status(request.status, action)
    return request.status
