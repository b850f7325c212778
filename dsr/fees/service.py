"""Charging a fee, recording its payment, waiving it. Each goes through the case transition table, writes
its audit event and its letter to the subject in the caller's transaction; services flush, never commit.

A request is free (Art. 12(5)); a fee is the exception, for a request manifestly unfounded or excessive
(in particular repetitive), or for a further copy of data the subject already received (Art. 15(3)). The
letter gives the amount, the reason and how to pay, and says that the request waits for the payment; the
legal clock waits too (a ClockPause with reason "fee", ended when staff record the payment or waive it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.cases import states
from dsr.cases.decisions import DecisionError, approve, checked_text, record_staff
from dsr.cases.history import EarlierRequest, earlier_requests, received_further_copy
from dsr.cases.states import Action
from dsr.controller import Controller
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.models import (
    CaseFee,
    ClockPause,
    FeeGround,
    FeeState,
    Message,
    PauseReason,
    Right,
    StaffUser,
    SubjectRequest,
)
from dsr.notify.letters import send_subject_letter

#: a reasonable fee covers the administrative cost of one request; anything above this is a typo
MAX_FEE_NOK = 10_000
_AMOUNT = re.compile(r"^(\d{1,6})(?:[.,](\d{1,2}))?$")

GROUND_LABELS = {
    FeeGround.EXCESSIVE: _l("Manifestly unfounded or excessive, in particular repetitive (Art. 12(5)(a))"),
    FeeGround.FURTHER_COPY: _l("A further copy of data the subject already received (Art. 15(3))"),
}


def parse_amount(text: str | None) -> int:
    """Kroner as staff type them ("250", "250,50", "1 250") -> øre; DecisionError for anything else."""
    cleaned = re.sub(r"[\s\u00a0]", "", text or "").lower().removeprefix("nok").removesuffix("kr")
    match = _AMOUNT.match(cleaned)
    if not match:
        raise DecisionError(_("Write the amount in kroner, for example 250 or 250,50."))
    ore = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if ore == 0:
        raise DecisionError(_("A fee is more than 0 kroner. To charge nothing, do not charge a fee."))
    if ore > MAX_FEE_NOK * 100:
        raise DecisionError(_("A reasonable fee covers the administrative cost of the request (Art. 12(5)); "
                              "this portal accepts at most %(most)d kroner.", most=MAX_FEE_NOK))
    return ore


@dataclass(frozen=True)
class FeeEvidence:
    earlier: list[EarlierRequest]
    further_copy_of: EarlierRequest | None  # the earlier access request whose copy the subject received

    @property
    def grounds(self) -> list[FeeGround]:
        """The grounds a fee may be charged on for this request."""
        return [FeeGround.EXCESSIVE] + ([FeeGround.FURTHER_COPY] if self.further_copy_of else [])


def fee_evidence(session: orm.Session, request: SubjectRequest) -> FeeEvidence:
    earlier = earlier_requests(session, request)
    copy = received_further_copy(earlier) if request.right is Right.ACCESS else None
    return FeeEvidence(earlier=earlier, further_copy_of=copy)


def case_fees(session: orm.Session, request_id: int) -> list[CaseFee]:
    return list(session.scalars(sa.select(CaseFee).where(CaseFee.request_id == request_id).order_by(CaseFee.id)))


def open_fee(session: orm.Session, request_id: int) -> CaseFee | None:
    return session.scalars(sa.select(CaseFee).where(CaseFee.request_id == request_id,
                                                    CaseFee.state == FeeState.AWAITING_PAYMENT)).first()


def charge_fee(session: orm.Session, request: SubjectRequest, *, actor: StaffUser, ground: str, amount: str,
               reason: str, instructions: str, controller: Controller) -> CaseFee:
    """Ask the subject for a fee: the letter goes out, the request and its clock wait for the payment."""
    try:
        fee_ground = FeeGround(ground)
    except ValueError:
        raise DecisionError(_("Choose the ground for the fee.")) from None
    states.next_status(request.status, Action.CHARGE_FEE)  # refuse early, before anything is written
    evidence = fee_evidence(session, request)
    if fee_ground not in evidence.grounds:
        raise DecisionError(_("A further copy (Art. 15(3)) needs an earlier access request whose copy the subject "
                              "received; none is on record for this person."))
    amount_ore = parse_amount(amount)
    reason = checked_text(reason, "reason for the fee")
    instructions = checked_text(instructions, "payment instructions")
    states.apply(request, Action.CHARGE_FEE)
    fee = CaseFee(request_id=request.id, ground=fee_ground, amount_ore=amount_ore, reason=reason,
                  payment_instructions=instructions, charged_by_id=actor.id, charged_at=utcnow())
    session.add(fee)
    session.flush()
    copy = evidence.further_copy_of if fee_ground is FeeGround.FURTHER_COPY else None
    letter = send_subject_letter(
        session, request, "fee_requested", author_id=actor.id, dedupe_key=f"fee:{fee.id}", ground=fee_ground.value,
        amount=fee.amount_text(request.language), reason=reason, instructions=instructions,
        earlier_reference=copy.reference if copy else None, earlier_copy_at=copy.copy_released_at if copy else None)
    fee.letter_id = letter.id
    request.pauses.append(ClockPause(started_at=fee.charged_at, reason=PauseReason.FEE, message_id=letter.id,
                                     started_by_id=actor.id))
    refresh_deadlines(request, controller)
    record_staff(session, "case.fee_charged", actor, request, fee_id=fee.id, ground=fee_ground.value,
                 amount_ore=amount_ore, message_id=letter.id, earlier_requests=len(evidence.earlier))
    return fee


def _settle(session: orm.Session, request: SubjectRequest, fee: CaseFee, state: FeeState, actor: StaffUser,
            note: str | None, controller: Controller) -> None:
    """The fee is paid or waived: its pause ends now and the request is back with staff."""
    if fee.request_id != request.id:
        raise DecisionError(_("That fee does not belong to this case."))
    if fee.state is not FeeState.AWAITING_PAYMENT:
        raise DecisionError(_("This fee is already paid.") if fee.state is FeeState.PAID else _("This fee is already waived."))
    states.apply(request, Action.FEE_SETTLED)
    now = utcnow()
    fee.state, fee.settled_at, fee.settled_by_id, fee.settled_note = state, now, actor.id, note or None
    for pause in request.pauses:
        if pause.ended_at is None and pause.reason == PauseReason.FEE:
            pause.ended_at = max(now, pause.started_at)
    refresh_deadlines(request, controller)


def record_payment(session: orm.Session, request: SubjectRequest, fee: CaseFee, *, actor: StaffUser,
                   note: str | None, controller: Controller, four_eyes: bool = False) -> str:
    """Staff saw the payment arrive: the clock runs again and the request goes on as approved (the
    result of `dsr.cases.decisions.approve`: "started", "manual" or, for a four-eyes erasure, "proposed")."""
    note = checked_text(note, "note on the payment", required=False)
    _settle(session, request, fee, FeeState.PAID, actor, note, controller)
    record_staff(session, "case.fee_paid", actor, request, fee_id=fee.id, amount_ore=fee.amount_ore)
    send_subject_letter(session, request, "fee_paid", author_id=actor.id, dedupe_key=f"fee-paid:{fee.id}",
                        amount=fee.amount_text(request.language))
    return approve(session, request, actor=actor, four_eyes=four_eyes)


def waive_fee(session: orm.Session, request: SubjectRequest, fee: CaseFee, *, actor: StaffUser, note: str,
              controller: Controller) -> Message:
    """Staff drop the fee: the subject is told the request is handled free; it is back for a decision."""
    note = checked_text(note, "reason for waiving the fee (internal)")
    _settle(session, request, fee, FeeState.WAIVED, actor, note, controller)
    letter = send_subject_letter(session, request, "fee_waived", author_id=actor.id, dedupe_key=f"fee-waived:{fee.id}",
                                 amount=fee.amount_text(request.language))
    record_staff(session, "case.fee_waived", actor, request, fee_id=fee.id, message_id=letter.id)
    return letter
