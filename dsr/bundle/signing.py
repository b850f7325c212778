"""Ed25519 signatures of bundle manifests by the installation's key (DSR_SIGNING_KEY, a 32-byte seed)."""
from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dsr.config import ConfigError


def _b64decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key(signing_key: str | None) -> Ed25519PrivateKey:
    if not signing_key:
        raise ConfigError("DSR_SIGNING_KEY is not set (the run command writes one into instance/)")
    try:
        seed = _b64decode(signing_key)
    except ValueError as exc:
        raise ConfigError("DSR_SIGNING_KEY must be the urlsafe base64 of a 32-byte seed") from exc
    if len(seed) != 32:
        raise ConfigError("DSR_SIGNING_KEY must be the urlsafe base64 of a 32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as urlsafe base64 of its 32 raw bytes (what manifests embed and staff publish)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.urlsafe_b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def fingerprint(public_text: str) -> str:
    """A short, readable fingerprint to compare over the phone: SHA-256 of the raw key, 16 hex groups."""
    digest = hashlib.sha256(_b64decode(public_text)).hexdigest()[:32]
    return ":".join(digest[i:i + 4] for i in range(0, 32, 4))


def installation_fingerprint(signing_key: str | None) -> str | None:
    """The fingerprint of this installation's bundle key (letters and index pages print it), or None
    when no key is configured (a fresh clone)."""
    return fingerprint(public_key_text(private_key(signing_key))) if signing_key else None


def names_key(expected: str, public_text: str) -> bool:
    """Whether `expected` -- a public key as `bundle-public-key` prints it, or its fingerprint -- is the
    key `public_text`."""
    expected = expected.strip()
    try:
        if ":" in expected:
            return hmac.compare_digest(fingerprint(public_text), expected.lower())
        return hmac.compare_digest(_b64decode(expected), _b64decode(public_text))
    except ValueError:
        return False


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The signature file's content: urlsafe base64 of the 64-byte signature, one line."""
    return base64.urlsafe_b64encode(key.sign(data)) + b"\n"


def verify(public_text: str, data: bytes, signature_file: bytes) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(_b64decode(public_text))
        public.verify(_b64decode(signature_file.decode("ascii")), data)
    except (InvalidSignature, ValueError, UnicodeDecodeError):
        return False
    return True
