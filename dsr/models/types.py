"""Column types shared by the models."""
from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from dsr.db import UTCDateTime

__all__ = ["UTCDateTime", "StrEnumType"]


class StrEnumType(sa.types.TypeDecorator):
    """A StrEnum stored as plain VARCHAR: new members need no migration; Python rejects unknown ones."""

    impl = sa.String(32)
    cache_ok = True

    def __init__(self, enum_class: type[StrEnum], length: int = 32):
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value, dialect):
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum_class(value)
