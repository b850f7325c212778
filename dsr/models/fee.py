"""A fee charged for a request that is otherwise free: Art. 12(5) (manifestly unfounded or excessive,
in particular repetitive) or Art. 15(3) (a further copy). The request waits for it, and so does the
legal clock (a ClockPause with reason "fee"), until staff record the payment or waive the fee."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from babel.numbers import format_decimal
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import FeeGround, FeeState
from dsr.models.types import StrEnumType, UTCDateTime


class CaseFee(Base):
    __tablename__ = "case_fees"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    ground: Mapped[FeeGround] = mapped_column(StrEnumType(FeeGround))
    #: in øre (NOK × 100): whole numbers, so no currency arithmetic goes through floats
    amount_ore: Mapped[int] = mapped_column(sa.Integer)
    #: why this fee, as the letter tells the subject (the officer's words, in the case's language)
    reason: Mapped[str] = mapped_column(sa.Text)
    #: how to pay (account number, reference), as the letter tells the subject
    payment_instructions: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[FeeState] = mapped_column(StrEnumType(FeeState), default=FeeState.AWAITING_PAYMENT)
    #: the letter that asked for the fee (the pause ledger points at it too)
    letter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"))
    charged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    charged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: staff's note on the payment (e.g. its bank reference) or on why the fee was waived; never sent
    settled_note: Mapped[str | None] = mapped_column(sa.Text)

    def amount_text(self, language: str) -> str:
        """The amount as a letter or page in `language` writes it: "NOK 1,250.50" / "1 250,50 kr"."""
        number = format_decimal(Decimal(self.amount_ore) / 100, format="#,##0.00", locale=language)
        return f"{number} kr" if language == "nb" else f"NOK {number}"

    def __repr__(self) -> str:
        return f"<CaseFee {self.id} request={self.request_id} {self.state}>"
