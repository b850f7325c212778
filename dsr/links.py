"""Signed links in messages to the subject (itsdangerous, one salt per purpose).

- The verification link carries {request public id, challenge nonce}: it is the equivalent of
  the code in the same mail, single use (the nonce is consumed by the confirm page's POST only,
  so mail scanners that prefetch links burn nothing) and lives as long as the code.
- The case link in every mail carries the request's public id and the id of the letter it is in (made
  by the send job: the stored letter holds a placeholder). It opens the subject's case page once
  (through a confirm page and a POST, which records the browser's access on the server); a used
  link, one older than CASE_LINK_MAX_AGE_SECONDS, or one without a letter id (the many-use links of
  older versions) still names the case, and the subject can ask for a fresh code to open it.

Tokens are signed with SECRET_KEY (and SECRET_KEY_FALLBACKS, for key rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

VERIFY_SALT = "dsr-verify-email-v1"
CASE_SALT = "dsr-case-link-v1"


class LinkInvalid(Exception):
    """Tampered, from another purpose, or not ours: answer 404."""


@dataclass(frozen=True)
class CaseLink:
    public_id: str
    message_id: int | None  # the letter whose single-use link this is; None in links of older versions
    expired: bool  # signed by us but older than CASE_LINK_MAX_AGE_SECONDS


def _serializer(salt: str, app: Flask | None = None) -> URLSafeTimedSerializer:
    app = app or current_app
    keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or []), app.config["SECRET_KEY"]]  # newest last signs
    return URLSafeTimedSerializer(keys, salt=salt)


def verify_token(public_id: str, nonce: str) -> str:
    return _serializer(VERIFY_SALT).dumps({"r": public_id, "n": nonce})


def read_verify_token(token: str) -> tuple[str, str, bool]:
    """(public_id, nonce, expired): expired once older than a code's life; raises LinkInvalid."""
    data, expired = _load(token, VERIFY_SALT, int(current_app.config["CODE_TTL_SECONDS"]))
    if not isinstance(data.get("n"), str):
        raise LinkInvalid()
    return data["r"], data["n"], expired


def _load(token: str, salt: str, max_age: int) -> tuple[dict, bool]:
    serializer = _serializer(salt)
    try:
        data, expired = serializer.loads(token, max_age=max_age), False
    except SignatureExpired as exc:  # the signature is ours, only old: the payload can be trusted
        try:
            data, expired = serializer.load_payload(exc.payload), True
        except BadSignature:
            raise LinkInvalid() from None
    except BadSignature:
        raise LinkInvalid() from None
    if not isinstance(data, dict) or not isinstance(data.get("r"), str):
        raise LinkInvalid()
    return data, expired


def case_token(public_id: str, message_id: int) -> str:
    return _serializer(CASE_SALT).dumps({"r": public_id, "m": message_id})


def read_case_token(token: str) -> CaseLink:
    data, expired = _load(token, CASE_SALT, int(current_app.config["CASE_LINK_MAX_AGE_SECONDS"]))
    message_id = data.get("m")
    return CaseLink(public_id=data["r"], message_id=message_id if isinstance(message_id, int) else None,
                    expired=expired)


def external_url(endpoint: str, **values) -> str:
    """An absolute URL on DSR_BASE_URL; works in jobs, where there is no request to build from."""
    app = current_app
    path = app.url_map.bind("localhost", url_scheme="http").build(endpoint, values)
    return app.config["BASE_URL"].rstrip("/") + path


def verify_link_url(public_id: str, nonce: str) -> str:
    return external_url("identity.link_confirm", token=verify_token(public_id, nonce))


def case_link_url(public_id: str, message_id: int) -> str:
    """The link a letter to the subject carries: it opens the case page once."""
    return external_url("subject.open_link", token=case_token(public_id, message_id))
