"""Secrets at rest: small values (TOTP seeds, one-time codes awaiting their mail) sealed with
DSR_ENCRYPTION_KEY, and keyed HMACs for values we only ever compare."""
from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from dsr.config import ConfigError


def _fernet(app: Flask) -> MultiFernet:
    """DSR_ENCRYPTION_KEY seals; it and DSR_ENCRYPTION_KEY_FALLBACKS (earlier keys, after a rotation) open."""
    key = app.config.get("ENCRYPTION_KEY")
    if not key:
        raise ConfigError("DSR_ENCRYPTION_KEY is not set (the run command writes one into instance/)")
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k)
                            for k in [key, *(app.config.get("ENCRYPTION_KEY_FALLBACKS") or [])]])
    except ValueError as exc:
        raise ConfigError("DSR_ENCRYPTION_KEY (and each fallback) must be the urlsafe base64 of 32 bytes") from exc


def seal(value: str, app: Flask | None = None) -> str:
    return _fernet(app or current_app).encrypt(value.encode()).decode()


def reseal(token: str, app: Flask | None = None) -> str:
    """The same value sealed with the current DSR_ENCRYPTION_KEY (after a rotation)."""
    try:
        return _fernet(app or current_app).rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("sealed value cannot be opened with DSR_ENCRYPTION_KEY or its fallbacks") from exc


def unseal(token: str, app: Flask | None = None) -> str:
    try:
        return _fernet(app or current_app).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("sealed value cannot be opened with the current DSR_ENCRYPTION_KEY") from exc


def keyed_hmac(purpose: str, value: str, app: Flask | None = None, *, secret: str | None = None) -> str:
    """HMAC-SHA256 under a key derived from SECRET_KEY (or `secret`) for one purpose (never reused
    across purposes)."""
    secret = secret or (app or current_app).config["SECRET_KEY"]
    if not secret:
        raise ConfigError("DSR_SECRET_KEY is not set")
    key = hmac.new(secret.encode(), f"dsr.hmac.{purpose}".encode(), hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def email_digest(email: str, app: Flask | None = None) -> str:
    """What a reduced case keeps of its e-mail address (dsr.retention)."""
    return keyed_hmac("reduced-email", email.strip().lower(), app)


def email_digests(email: str, app: Flask | None = None) -> list[str]:
    """The digests a search compares: under SECRET_KEY and each of SECRET_KEY_FALLBACKS (a rotated key
    still finds the cases reduced before the rotation, while it is listed)."""
    config = (app or current_app).config
    return [keyed_hmac("reduced-email", email.strip().lower(), secret=secret)
            for secret in [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or [])] if secret]

