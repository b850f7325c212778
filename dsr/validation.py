"""Allow-list checks and normalisers for what subjects (and staff registering for them) type.

Pure functions: each returns the normalised value or raises InvalidValue with a message for
the field, in the current language. The forms and `submit_request` both use them, so a value
that reaches the database has passed the same checks whoever entered it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

MAX_EMAIL = 254
MAX_LOCAL_PART = 64  # octets before the @ (RFC 5321 4.5.3.1.1); mail servers may refuse longer ones
MAX_NAME = 200
MAX_LINE = 300  # one-line answers: which consent, which receiving service
MAX_TEXT = 2000  # free text: what is wrong, why you object, a reply to staff
MAX_POSTAL_ADDRESS = 250  # an address as written on an envelope, for letters by post
DEFAULT_PHONE_REGION = "NO"

# Control characters other than line breaks and tabs are never part of a genuine answer.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_LINE_BREAK = re.compile(r"[\r\n\u0085\u2028\u2029]")


class InvalidValue(ValueError):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class FieldRefused(ValueError):
    """A service refused a form's input; `field` names the form field the message belongs to."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(message)


def normalise_email(value: str | None, *, check_deliverability: bool = False) -> str:
    raw = (value or "").strip()
    if not raw:
        raise InvalidValue(_("Enter your e-mail address"))
    _refuse_line_breaks(raw, _("The e-mail address must be on one line"))
    if len(raw) > MAX_EMAIL:
        raise InvalidValue(_("The e-mail address must be %(max)d characters or fewer", max=MAX_EMAIL))
    try:
        result = validate_email(raw, check_deliverability=check_deliverability)
    except EmailNotValidError:
        raise InvalidValue(_("Enter an e-mail address in the right format, like name@example.com")) from None
    if len(result.normalized) > MAX_EMAIL:
        raise InvalidValue(_("The e-mail address must be %(max)d characters or fewer", max=MAX_EMAIL))
    if len(result.local_part.encode("utf-8")) > MAX_LOCAL_PART:
        raise InvalidValue(_("The part before the @ must be %(max)d characters or fewer", max=MAX_LOCAL_PART))
    return result.normalized


def normalise_phone(value: str | None, region: str = DEFAULT_PHONE_REGION) -> str | None:
    """E.164 (+4791234567), or None when left empty."""
    raw = (value or "").strip()
    if not raw:
        return None
    _refuse_line_breaks(raw, _("Enter a phone number on one line"))
    if len(raw) > 32:
        raise InvalidValue(_("Enter a phone number, like 912 34 567 or +46 70 123 45 67"))
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue(_("Enter a phone number, like 912 34 567 or +46 70 123 45 67")) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(_("Enter a phone number, like 912 34 567 or +46 70 123 45 67"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return (
        phonenumbers.is_valid_number(number)
        and phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == value
    )


def single_line(
    value: str | None, *, max_length: int = MAX_LINE, required_message: str | None = None
) -> str | None:
    """A one-line answer (it may end up in a mail header or a subject line): no line breaks."""
    text = unicodedata.normalize("NFC", (value or "")).strip()
    if not text:
        if required_message:
            raise InvalidValue(required_message)
        return None
    _refuse_line_breaks(text, _("Write this on one line"))
    _refuse_control(text)
    if len(text) > max_length:
        raise InvalidValue(_("This must be %(max)d characters or fewer", max=max_length))
    return text


def free_text(
    value: str | None, *, max_length: int = MAX_TEXT, required_message: str | None = None
) -> str | None:
    """Several lines of text; line breaks are kept (as \\n), other control characters refused."""
    text = unicodedata.normalize("NFC", (value or "")).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        if required_message:
            raise InvalidValue(required_message)
        return None
    _refuse_control(text)
    if len(text) > max_length:
        raise InvalidValue(_("This must be %(max)d characters or fewer", max=max_length))
    return text


def collect(checks: Mapping[str, Callable[[], Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Run every check (field -> a function giving the cleaned value or raising InvalidValue): the
    values that passed, and each field's message for those that did not, so a form shows every error."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field, check in checks.items():
        try:
            values[field] = check()
        except InvalidValue as exc:
            errors[field] = exc.message
    return values, errors


def postal_address(value: str | None) -> str | None:
    """An address as written on an envelope: its lines kept (blank ones dropped), None when empty."""
    lines = [single_line(line, max_length=MAX_POSTAL_ADDRESS) for line in (value or "").splitlines()]
    text = "\n".join(line for line in lines if line)
    if len(text) > MAX_POSTAL_ADDRESS:
        raise InvalidValue(_("This must be %(max)d characters or fewer", max=MAX_POSTAL_ADDRESS))
    return text or None


def _refuse_line_breaks(text: str, message: str) -> None:
    if _LINE_BREAK.search(text):
        raise InvalidValue(message)


def _refuse_control(text: str) -> None:
    if _CONTROL.search(text):
        raise InvalidValue(_("This contains characters we cannot accept"))


def mask_phone(e164: str) -> str:
    """+4791234789 -> '+47 *** ** 789': the country code and the last three digits only."""
    try:
        number = phonenumbers.parse(e164, None)
        country, national = f"+{number.country_code}", phonenumbers.national_significant_number(number)
    except phonenumbers.NumberParseException:
        country, national = "", re.sub(r"\D", "", e164)
    shown = national[-3:]
    hidden = len(national) - len(shown)
    groups = [3] * (hidden // 3) + ([hidden % 3] if hidden % 3 else [])
    masked = " ".join("*" * size for size in groups)
    return " ".join(part for part in (country, masked, shown) if part)
