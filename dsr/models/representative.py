"""Someone acting for the data subject (a parent, a guardian, a lawyer, an employer) and the
authorisation they showed. Letters and codes go to them; the subject's own identifiers stay on the
request, and no system is searched for the subject until staff accepted the authorisation."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import AuthorisationState, Relationship
from dsr.models.types import StrEnumType, UTCDateTime

if TYPE_CHECKING:
    from dsr.models.request import SubjectRequest


class Representative(Base):
    __tablename__ = "representatives"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: where letters and codes go; None: the representative is answered by post
    email: Mapped[str | None] = mapped_column(sa.String(254))
    postal_address: Mapped[str | None] = mapped_column(sa.String(250))
    relationship: Mapped[Relationship] = mapped_column(StrEnumType(Relationship))
    #: what "other" means, or more about the relationship, as the representative put it
    relationship_note: Mapped[str | None] = mapped_column(sa.String(200))

    state: Mapped[AuthorisationState] = mapped_column(StrEnumType(AuthorisationState),
                                                      default=AuthorisationState.PENDING)
    #: the sealed file in the store (dsr.representation.files); None until one is attached
    authorisation_key: Mapped[str | None] = mapped_column(sa.String(200))
    authorisation_filename: Mapped[str | None] = mapped_column(sa.String(120))
    #: the type sniffed from the file's first bytes (never the browser's claim)
    authorisation_type: Mapped[str | None] = mapped_column(sa.String(40))
    authorisation_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    authorisation_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    authorisation_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    #: why staff rejected the authorisation (it is in the letter to the representative)
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[SubjectRequest] = orm.relationship(back_populates="representative")

    def __repr__(self) -> str:  # no PII in reprs: they end up in logs
        return f"<Representative {self.id} request={self.request_id} {self.state}>"
