"""Releasing a reviewed bundle to the subject: the case is answered, the download works for
BUNDLE_EXPIRY_DAYS, and the "your data is ready" letter goes in the same transaction."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.states import Action
from dsr.db import on_commit, utcnow
from dsr.export import storage
from dsr.export.bundle_states import BUNDLE_STATES, BundleEvent
from dsr.export.delivery import BundleNotFound
from dsr.export.review import system_outcomes
from dsr.identity.verification import fresh_code_route
from dsr.models import BundleStatus, ChallengeChannel, ExportBundle, SubjectRequest
from dsr.notify.letters import send_subject_letter

READY_LETTER = "data_ready"


class ReleaseRefused(ValueError):
    """The case has no bundle ready for review (the message says why)."""


def release_bundle(session: orm.Session, bundle_id: int, staff_id: int) -> ExportBundle:
    """Staff release a reviewed bundle: the case is answered, the link works for BUNDLE_EXPIRY_DAYS."""
    bundle = session.get(ExportBundle, bundle_id)
    if bundle is None:
        raise BundleNotFound(bundle_id)
    if bundle.status is not BundleStatus.READY_FOR_REVIEW:
        raise ReleaseRefused(f"only a bundle ready for review can be released; this one is {bundle.status.value}")
    request = session.get(SubjectRequest, bundle.request_id)
    if request.authorisation_pending:
        raise ReleaseRefused("the representative's authorisation has not been accepted")
    states.apply(request, Action.RELEASE)
    now = utcnow()
    request.closed_at = now
    bundle.status = BUNDLE_STATES.target(bundle.status, BundleEvent.RELEASE)
    bundle.released_at = now
    bundle.released_by_id = staff_id
    bundle.expires_at = now + timedelta(days=float(current_app.config["BUNDLE_EXPIRY_DAYS"]))
    record(session, "bundle.released", actor_type="staff", actor_id=staff_id, request_id=request.id,
           bundle_id=bundle.id, partial=bundle.partial, expires_at=bundle.expires_at.date().isoformat())
    session.flush()
    app = current_app._get_current_object()
    on_commit(session, lambda: storage.remove_request_spool(request.id, app))  # a partial bundle's, kept till now
    return bundle


def release_to_subject(session: orm.Session, request_id: int, staff_id: int) -> ExportBundle:
    """Release the reviewed bundle and tell the subject, in one transaction (the caller commits).

    The letter is in the case's language and carries the case link and the expiry of the download;
    the download itself asks for a fresh code (by SMS when the case was opened with e-mail + SMS). Raises ReleaseRefused (or the transition
    table's IllegalTransition) when the case has no bundle ready for review."""
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request_id,
                                                          ExportBundle.status == BundleStatus.READY_FOR_REVIEW))
    if bundle is None:
        raise ReleaseRefused("this case has no bundle ready for review")
    request = session.get(SubjectRequest, request_id)
    if request.answered_by_post:
        raise ReleaseRefused("this subject is answered by post: record the hand-over on a medium instead")
    release_bundle(session, bundle.id, staff_id)
    send_subject_letter(
        session, request, READY_LETTER, author_id=staff_id, dedupe_key=f"data-ready:{bundle.id}",
        kind=bundle.kind.value, partial=bundle.partial, expires_at=bundle.expires_at,
        systems=system_outcomes(session, request),
        code_minutes=max(1, int(current_app.config["CODE_TTL_SECONDS"]) // 60),
        code_by_sms=fresh_code_route(session, request).channel is ChallengeChannel.SMS,
    )
    session.flush()
    return bundle
