"""Privacy staff accounts."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import StaffRole
from dsr.models.types import StrEnumType, UTCDateTime


class StaffUser(UserMixin, Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120), default="")
    role: Mapped[StaffRole] = mapped_column(StrEnumType(StaffRole), default=StaffRole.VIEWER)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    must_change_password: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    #: the TOTP seed, encrypted with DSR_ENCRYPTION_KEY; None until enrolled
    totp_secret_sealed: Mapped[str | None] = mapped_column(sa.String(300))
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last accepted TOTP time step: a code is accepted once
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: bumped on logout-everywhere, password change, MFA reset and disable: old sessions die
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the language of this person's staff pages ("en", "nb"); None: English, as before the choice existed
    language: Mapped[str | None] = mapped_column(sa.String(5))

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.role}>"
