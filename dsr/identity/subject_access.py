"""What this browser has proven, kept in the (signed) Flask session.

Per request public id: the verification factors shown here ("email", "sms"), whether the
browser may see the case page, and when it last gave a fresh code for a purpose (a download).
A browser that has not proven a case gets 404 for it, never 403: the answer must not tell a
stranger that the case exists. Timestamps are Unix seconds; access lasts CASE_ACCESS_SECONDS.

This module is the only one that reads or writes these session keys; services never do.
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from flask import abort, current_app, session

from dsr.crypto import keyed_hmac
from dsr.db import get_session
from dsr.models import ChallengePurpose, SubjectRequest

_PROOFS = "dsr_proofs"
_BROWSER = "dsr_browser"
_MAX_CASES = 8  # the cookie stays small: the oldest proofs are dropped


def browser_binding() -> str:
    """A keyed hash of a random id this browser keeps in its session (codes are bound to it)."""
    browser = session.get(_BROWSER)
    if not isinstance(browser, str):
        browser = session[_BROWSER] = secrets.token_urlsafe(16)
    return keyed_hmac("browser", browser)


def _proofs() -> dict[str, dict[str, int]]:
    proofs = session.get(_PROOFS)
    return proofs if isinstance(proofs, dict) else {}


def _remember(public_id: str, key: str) -> None:
    proofs = dict(_proofs())
    entry = dict(proofs.pop(public_id, {}))
    entry[key] = int(time.time())
    proofs[public_id] = entry
    while len(proofs) > _MAX_CASES:
        proofs.pop(next(iter(proofs)))
    session[_PROOFS] = proofs


def _age(public_id: str, key: str) -> float | None:
    stamp = _proofs().get(public_id, {}).get(key)
    return None if not isinstance(stamp, int) else time.time() - stamp


def remember_factor(request: SubjectRequest, factor: str) -> None:
    """This browser consumed a code or link of `factor` ("email" or "sms") for the request."""
    _remember(request.public_id, f"factor:{factor}")


def factors(request: SubjectRequest) -> frozenset[str]:
    limit = int(current_app.config["CASE_ACCESS_SECONDS"])
    return frozenset(
        key.removeprefix("factor:")
        for key in _proofs().get(request.public_id, {})
        if key.startswith("factor:") and (_age(request.public_id, key) or 0) <= limit
    )


def grant_case_access(request: SubjectRequest) -> None:
    """After a valid link or code: this browser may see the case for CASE_ACCESS_SECONDS."""
    _remember(request.public_id, "case")


def has_case_access(public_id: str) -> bool:
    age = _age(public_id, "case")
    return age is not None and age <= int(current_app.config["CASE_ACCESS_SECONDS"])


def case_for_subject_or_404(public_id: str) -> SubjectRequest:
    """The case this browser has proven, or 404 (for an unknown case and a foreign one alike)."""
    if not has_case_access(public_id):
        abort(404)
    request = (
        get_session().scalars(sa.select(SubjectRequest).where(SubjectRequest.public_id == public_id)).first()
    )
    if request is None:
        abort(404)
    return request


def mark_fresh(request: SubjectRequest, purpose: ChallengePurpose | str) -> None:
    """This browser just gave a valid code of `purpose` (e.g. DOWNLOAD) for the request."""
    _remember(request.public_id, f"fresh:{ChallengePurpose(purpose).value}")


def is_fresh(request: SubjectRequest, purpose: ChallengePurpose | str, max_age_seconds: int) -> bool:
    age = _age(request.public_id, f"fresh:{ChallengePurpose(purpose).value}")
    return age is not None and age <= max_age_seconds


def forget(public_id: str) -> None:
    proofs = dict(_proofs())
    if proofs.pop(public_id, None) is not None:
        session[_PROOFS] = proofs
