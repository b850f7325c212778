"""Contact details found in a system, made comparable: phones as E.164, e-mails lower-case."""
from __future__ import annotations

from typing import Any

import phonenumbers


def normalise_phone(value: Any, region: str = "NO") -> str | None:
    """E.164, or None when the value is no valid phone number."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: Any) -> str | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower()


def add_unique(target: list[str], value: str | None) -> None:
    if value and value not in target:
        target.append(value)
