"""TOTP (RFC 6238) for every staff role: 30-second steps, 6 digits, at most one step of clock drift
either way, and each step accepted once per account (pyotp leaves replay protection to us)."""

from __future__ import annotations

import hmac
import time

import pyotp
import segno

STEP_SECONDS = 30
VALID_WINDOW = 1  # steps of drift accepted each way (ASVS 6.5.5: no more than one)


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits from the CSPRNG


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """An SVG QR code as a data: URI (the CSP allows img data:, and nothing leaves the server)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, *, after_step: int | None, now: float | None = None) -> int | None:
    """The time step `code` belongs to, if it is within the window and later than `after_step`."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    step_now = current_step(now)
    found = None
    for step in range(step_now - VALID_WINDOW, step_now + VALID_WINDOW + 1):
        # Compare against every candidate (no early exit) so timing says nothing about which matched.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code) and (
            after_step is None or step > after_step
        ):
            found = step
    return found
