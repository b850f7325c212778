"""The fee panel of the staff case page: the subject's earlier requests (the evidence for Art. 12(5)),
the fees charged and their state, and what staff can do next. Read only."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.cases.pages import CasePanel, register_panel
from dsr.fees.service import GROUND_LABELS, FeeEvidence, case_fees, fee_evidence
from dsr.models import CaseFee, FeeState, RequestStatus, SubjectRequest

STATE_TEXT = {FeeState.AWAITING_PAYMENT: _l("Waiting for payment"), FeeState.PAID: _l("Paid"),
              FeeState.WAIVED: _l("Waived")}


@dataclass(frozen=True)
class FeeRow:
    fee: CaseFee

    @property
    def amount(self) -> str:
        return self.fee.amount_text(str(get_locale()))  # the staff member's language

    @property
    def ground(self) -> str:
        return str(GROUND_LABELS[self.fee.ground])

    @property
    def state(self) -> str:
        return str(STATE_TEXT[self.fee.state])


@dataclass(frozen=True)
class FeePanel:
    request: SubjectRequest
    evidence: FeeEvidence
    fees: list[FeeRow]

    @property
    def open_fee(self) -> CaseFee | None:
        waiting = [row.fee for row in self.fees if row.fee.state is FeeState.AWAITING_PAYMENT]
        return waiting[-1] if waiting and self.request.status is RequestStatus.AWAITING_PAYMENT else None

    @property
    def can_charge(self) -> bool:
        return self.request.status is RequestStatus.OPEN


def fee_panel(session: orm.Session, request: SubjectRequest) -> FeePanel | None:
    """Shown while a fee could be charged or is awaited, and on any case with earlier requests or a fee."""
    if request.status is RequestStatus.AWAITING_VERIFICATION:
        return None
    fees = [FeeRow(fee) for fee in case_fees(session, request.id)]
    evidence = fee_evidence(session, request)
    if not fees and not evidence.earlier and request.status is not RequestStatus.OPEN:
        return None
    return FeePanel(request=request, evidence=evidence, fees=fees)


register_panel(CasePanel(template="fees/_panel.html", build=lambda session, case, masked: fee_panel(session, case),
                         running=lambda panel: False, actions=frozenset()))
