"""Releasing a reviewed bundle to the subject: the download works for BUNDLE_EXPIRY_DAYS, and the "your
data is ready" letter goes in the same transaction. A complete bundle answers the request; a partial one
(systems failed) is the first part: the case stays open for the failed systems, and the letter says what
is still to come and by when (dsr.export.parts)."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.states import Action
from dsr.db import on_commit, utcnow
from dsr.deadlines.rules import local_date
from dsr.export import storage
from dsr.export.bundle_states import BUNDLE_STATES, BundleEvent
from dsr.export.delivery import BundleNotFound
from dsr.export.delta import keep_release_digests, released_tasks
from dsr.export.parts import given_bundles, open_bundle
from dsr.export.redaction import redactions_of
from dsr.export.review import system_outcomes
from dsr.identity.verification import fresh_code_route
from dsr.models import BundleKind, BundleStatus, ChallengeChannel, ExportBundle, SubjectRequest
from dsr.notify.letters import send_subject_letter
from dsr.queue import defer

READY_LETTER = "data_ready"


class ReleaseRefused(ValueError):
    """The case has no bundle ready for review (the message says why)."""


def release_bundle(session: orm.Session, bundle_id: int, staff_id: int) -> ExportBundle:
    """Staff release a reviewed bundle: the link works for BUNDLE_EXPIRY_DAYS. A complete bundle answers the
    case; a partial one leaves it open for the systems it lacks."""
    bundle = session.get(ExportBundle, bundle_id)
    if bundle is None:
        raise BundleNotFound(bundle_id)
    if bundle.status is not BundleStatus.READY_FOR_REVIEW:
        raise ReleaseRefused(_("only a bundle ready for review can be released; this one is %(status)s",
                               status=bundle.status.value.replace("_", " ")))
    request = session.get(SubjectRequest, bundle.request_id)
    if request.authorisation_pending:
        raise ReleaseRefused(_("the representative's authorisation has not been accepted"))
    states.apply(request, Action.RELEASE_PART if bundle.partial else Action.RELEASE)
    now = utcnow()
    if not bundle.partial:
        request.closed_at = now
    bundle.status = BUNDLE_STATES.target(bundle.status, BundleEvent.RELEASE)
    bundle.released_at = now
    bundle.released_by_id = staff_id
    bundle.expires_at = now + timedelta(days=float(current_app.config["BUNDLE_EXPIRY_DAYS"]))
    record(session, "bundle.released", actor_type="staff", actor_id=staff_id, request_id=request.id,
           bundle_id=bundle.id, partial=bundle.partial, part=bundle.part,
           expires_at=bundle.expires_at.date().isoformat())
    session.flush()
    if bundle.kind is BundleKind.ACCESS:
        # Its records are digested for a later delta answer first; that job then deletes its spools.
        defer(session, keep_release_digests, bundle.id, request_id=request.id)
    else:
        app = current_app._get_current_object()
        tasks = released_tasks(session, bundle)
        on_commit(session, lambda: storage.remove_spools_of(request.id, tasks, bundle.id, app))
    return bundle


def release_to_subject(session: orm.Session, request_id: int, staff_id: int) -> ExportBundle:
    """Release the reviewed bundle and tell the subject, in one transaction (the caller commits).

    The letter is in the case's language and carries the case link and the expiry of the download; it
    names the systems that held data and those that held none, and for a partial bundle the systems still
    to come and the date they are due. The download itself asks for a fresh code (by SMS when the case was
    opened with e-mail + SMS). Raises ReleaseRefused (or the transition table's IllegalTransition) when the
    case has no bundle ready for review."""
    bundle = open_bundle(session, request_id)
    if bundle is None or bundle.status is not BundleStatus.READY_FOR_REVIEW:
        raise ReleaseRefused(_("this case has no bundle ready for review"))
    request = session.get(SubjectRequest, request_id)
    if request.answered_by_post:
        raise ReleaseRefused(_("this subject is answered by post: record the hand-over on a medium instead"))
    release_bundle(session, bundle.id, staff_id)
    send_subject_letter(session, request, READY_LETTER, author_id=staff_id, dedupe_key=f"data-ready:{bundle.id}",
                        **ready_letter_context(session, request, bundle))
    session.flush()
    return bundle


def ready_letter_context(session: orm.Session, request: SubjectRequest, bundle: ExportBundle) -> dict:
    """What the "your data is ready" letter says of this part of the answer."""
    timezone = current_app.extensions["dsr.controller"].timezone
    earlier = [b for b in given_bundles(session, request.id) if b.part < bundle.part and b.released_at]
    outcomes = system_outcomes(session, request, bundle)
    return {
        "kind": bundle.kind.value, "partial": bundle.partial, "part": bundle.part, "expires_at": bundle.expires_at,
        "systems": outcomes, "still_owed": [o["name"] for o in outcomes if o["outcome"] == "not_collected"],
        "rest_due_on": request.deadline_on if bundle.partial else None,
        "earlier_on": local_date(earlier[-1].released_at, timezone) if earlier else None,
        "changes_since": _changes_since(session, bundle),
        "redacted": any(rule.system_key in (bundle.systems or ()) for rule in redactions_of(session, request.id)),
        "code_minutes": max(1, int(current_app.config["CODE_TTL_SECONDS"]) // 60),
        "code_by_sms": fresh_code_route(session, request).channel is ChallengeChannel.SMS,
    }


def _changes_since(session: orm.Session, bundle: ExportBundle):
    """The local date of the answer a delta bundle follows (None for a full answer)."""
    if bundle.changes_since_request_id is None:
        return None
    timezone = current_app.extensions["dsr.controller"].timezone
    released = [b.released_at for b in given_bundles(session, bundle.changes_since_request_id) if b.released_at]
    return local_date(max(released), timezone) if released else None
