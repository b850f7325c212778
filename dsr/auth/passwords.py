"""Argon2id password hashing (argon2-cffi's RFC 9106 low-memory profile or stronger) and the
staff password rules (ASVS 6.2): at least 12 characters, any characters, no composition rules,
no truncation, and not one of the commonly used passwords shipped in `common-passwords.txt`
(the top 10,000 of the list Django ships, itself from Royce Williams' breach-frequency list,
plus every entry of that list of 12 characters or more)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import gettext as _

_hasher = PasswordHasher()  # argon2id, m=64 MiB, t=3, p=4

MIN_LENGTH = 12
# Far above what anyone types; only there so a megabyte "password" cannot tie up a worker.
MAX_LENGTH = 1024
_COMMON_FILE = Path(__file__).with_name("common-passwords.txt")


class PasswordRejected(ValueError):
    """The password breaks a rule; the message says which, for the person choosing it."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against when the account does not exist, so both cases cost the same."""
    return _hasher.hash("no such account: the time spent here hides that")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip())


def check_new_password(password: str, *, email: str | None = None) -> None:
    """Raise PasswordRejected unless `password` may be used by a staff member."""
    length = len(unicodedata.normalize("NFC", password))
    if length < MIN_LENGTH:
        raise PasswordRejected(
            _("Use at least %(least)d characters (this one has %(length)d). "
              "A few unrelated words make a long password easy to remember.", least=MIN_LENGTH, length=length)
        )
    if length > MAX_LENGTH:
        raise PasswordRejected(_("Use at most %(most)d characters.", most=MAX_LENGTH))
    folded = password.strip().casefold()
    if folded in common_passwords():
        raise PasswordRejected(_("This password is on a list of commonly used passwords. Choose another."))
    if email and folded in {email.casefold(), email.split("@")[0].casefold()}:
        raise PasswordRejected(_("Do not use your e-mail address as your password."))
