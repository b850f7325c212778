"""What this browser has proven about a request, kept on the server (`CaseAccess` rows).

The (signed) Flask session holds only a random id for the browser; rows are keyed on its keyed hash,
the same binding one-time codes are tied to. So a copied cookie is worth no more than the rows behind
it, and staff can end a subject's access (`dsr.cases.access.end_subject_access`). A row records:
- the verification factors this browser showed ("email", "sms"): it sees the case once the case is
  open and those cover the factors it was opened with (FACTORS_FOR_METHOD);
- or access by a letter's case link (single use: one row per letter) or a fresh code;
- when it last gave a right code before a download.
Access lasts CASE_ACCESS_SECONDS. A browser that has not proven a case gets 404 for it, never 403:
the answer must not tell a stranger that the case exists.

This module is the only one that reads the browser id or these rows for the subject's pages; it adds
rows to the request's database session, and the view commits them. GET pages only read.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import abort, current_app, session
from sqlalchemy import orm

from dsr.crypto import keyed_hmac
from dsr.db import get_session, utcnow
from dsr.identity.verification import FACTORS_FOR_METHOD
from dsr.models import CaseAccess, RequestStatus, SubjectRequest

_BROWSER = "dsr_browser"
VERIFICATION, CASE_LINK, CODE = "verification", "case_link", "code"
#: public ids are secrets.token_urlsafe(16): anything else is not found before any query (PostgreSQL
#: refuses a NUL byte in text with an error, which would be a 500 from a typed URL)
_PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def browser_binding() -> str:
    """A keyed hash of a random id this browser keeps in its session (codes are bound to it)."""
    browser = session.get(_BROWSER)
    if not isinstance(browser, str):
        browser = session[_BROWSER] = secrets.token_urlsafe(16)
    return keyed_hmac("browser", browser)


def _live(request: SubjectRequest, *conditions) -> list[CaseAccess]:
    """This browser's rows for the request that still count."""
    if not isinstance(session.get(_BROWSER), str):
        return []  # a browser without an id has proven nothing (and a GET must not give it one)
    return list(get_session().scalars(
        sa.select(CaseAccess)
        .where(CaseAccess.request_id == request.id, CaseAccess.browser == browser_binding(),
               CaseAccess.revoked_at.is_(None), CaseAccess.expires_at > utcnow(), *conditions)
        .order_by(CaseAccess.id)
    ))


def _expiry() -> datetime:
    return utcnow() + timedelta(seconds=int(current_app.config["CASE_ACCESS_SECONDS"]))


def remember_factor(request: SubjectRequest, factor: str) -> None:
    """This browser consumed a code or link of `factor` ("email" or "sms") for the request."""
    rows = _live(request, CaseAccess.via == VERIFICATION)
    if rows:
        row = rows[-1]
        row.factors = "+".join(sorted({*row.factors.split("+"), factor} - {""}))
        row.expires_at = _expiry()
    else:
        get_session().add(CaseAccess(request_id=request.id, browser=browser_binding(), via=VERIFICATION,
                                     factors=factor, expires_at=_expiry()))
    get_session().flush()


def factors(request: SubjectRequest) -> frozenset[str]:
    """The verification factors this browser showed for the request (within CASE_ACCESS_SECONDS)."""
    return frozenset(factor for row in _live(request, CaseAccess.via == VERIFICATION)
                     for factor in row.factors.split("+") if factor)


def has_case_access(request: SubjectRequest) -> bool:
    return _grant_among(request, _live(request))


def _grant_among(request: SubjectRequest, rows: list[CaseAccess]) -> bool:
    """Whether one of this browser's live rows lets it see the request now."""
    for row in rows:
        if row.via != VERIFICATION:
            return True
        needed = FACTORS_FOR_METHOD.get(request.identity_method or "")
        if (request.status is not RequestStatus.AWAITING_VERIFICATION and needed
                and needed <= set(row.factors.split("+"))):
            return True
    return False


def grant_case_access(request: SubjectRequest, via: str, *, case_link_message_id: int | None = None) -> bool:
    """After a letter's case link (`via` CASE_LINK, with the letter's id) or a fresh code (CODE): this
    browser may see the case for CASE_ACCESS_SECONDS. False when the letter's link was used already."""
    db = get_session()
    try:
        with db.begin_nested():  # two clicks racing: the unique letter id lets one of them in
            db.add(CaseAccess(request_id=request.id, browser=browser_binding(), via=via, factors="email",
                              case_link_message_id=case_link_message_id, expires_at=_expiry()))
            db.flush()
    except sa.exc.IntegrityError:
        return False
    return True


def case_link_used(message_id: int) -> bool:
    return get_session().scalar(
        sa.select(sa.func.count()).select_from(CaseAccess).where(CaseAccess.case_link_message_id == message_id)
    ) > 0


def request_or_404(public_id: str) -> SubjectRequest:
    if not _PUBLIC_ID.match(public_id):
        abort(404)
    found = get_session().scalars(sa.select(SubjectRequest).where(SubjectRequest.public_id == public_id)).first()
    if found is None:
        abort(404)
    return found


def case_with_access(*also) -> sa.Select:
    """The statement the subject's pages find their case with: the case (by :public_id), this browser's
    live rows for it (by :browser, :now), and any entities in `also`, which the caller joins. Built once
    by each caller: a statement kept is compiled and keyed once."""
    return (
        sa.select(SubjectRequest, CaseAccess, *also)
        .outerjoin(CaseAccess, sa.and_(CaseAccess.request_id == SubjectRequest.id,
                                       CaseAccess.browser == sa.bindparam("browser"),
                                       CaseAccess.revoked_at.is_(None),
                                       CaseAccess.expires_at > sa.bindparam("now")))
        .where(SubjectRequest.public_id == sa.bindparam("public_id"))
        .order_by(CaseAccess.id)
        # The subject's own answers and contact data are not on these pages (a page that needs one loads
        # it then); every column costs the driver and the ORM a little at each view.
        .options(*(orm.defer(column) for column in (
            SubjectRequest.details, SubjectRequest.email, SubjectRequest.phone, SubjectRequest.postal_address,
            SubjectRequest.full_name, SubjectRequest.intake_key, SubjectRequest.email_digest,
            SubjectRequest.supplementary_statement, SubjectRequest.objection_grounds, SubjectRequest.outcome_note,
            SubjectRequest.rejection_text, SubjectRequest.extension_reason)))
    )


_CASE_WITH_ACCESS = case_with_access()


def case_for_subject_or_404(public_id: str) -> SubjectRequest:
    """The case this browser has proven, or 404 (for an unknown case and a foreign one alike).
    One query for the case and this browser's rows: the subject's pages are the busiest ones."""
    return case_rows_for_subject_or_404(public_id, _CASE_WITH_ACCESS)[0][0]


def case_rows_for_subject_or_404(public_id: str, statement: sa.Select) -> list[sa.Row]:
    """The rows of `statement` (built on case_with_access) when they show a case this browser has
    proven, or 404. Each row begins with the case and one of this browser's rows (or None)."""
    if not _PUBLIC_ID.match(public_id) or not isinstance(session.get(_BROWSER), str):
        abort(404)
    found = get_session().execute(statement, {"public_id": public_id, "browser": browser_binding(),
                                              "now": utcnow()}).all()
    if not found or not _grant_among(found[0][0], [row[1] for row in found if row[1] is not None]):
        abort(404)
    return found


def mark_download_proven(request: SubjectRequest) -> None:
    """This browser just gave a right download code for the request."""
    for row in _live(request):
        row.download_proven_at = utcnow()
    get_session().flush()


def download_proven(request: SubjectRequest, max_age_seconds: int) -> bool:
    since = utcnow() - timedelta(seconds=max_age_seconds)
    return any(row.download_proven_at is not None and row.download_proven_at >= since for row in _live(request))
