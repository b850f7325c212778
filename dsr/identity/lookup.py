"""The lookup job's service: find the subject in every connected system after the request is filed.

It runs in a job, never in the web request, so the intake page answers the same whether or not
any system knows the address. One `subject_locations` row per system keeps the connector's
SubjectRef (the export and action areas reuse it) or the error the system gave.

A system that fails does not lower the bar: while retries remain and no system that answered
holds a phone, the job is retried (the rows written so far are kept for staff). On the last
attempt the lookup completes with what there is: step-up by SMS if a system that answered holds
a phone; otherwise `advance` sends an access, portability or erasure request to staff
(SYSTEMS_UNREACHABLE), since the silent system may hold the phone; rights without step-up go on
with the e-mail alone. Staff see the per-system errors on the case.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.connectors.registry import locate_everywhere, subject_identity
from dsr.db import utcnow
from dsr.identity.verification import advance, phone_on_file
from dsr.models import RequestStatus, SubjectLocation, SubjectRequest
from dsr.models.enums import STEP_UP_RIGHTS
from dsr.queue import QUEUE_CONNECTORS, RetryLater, is_final_attempt, job

log = logging.getLogger(__name__)


class LookupIncomplete(RetryLater):
    """Some systems did not answer and none that did holds a phone: try again later."""


def locate_subject(session: orm.Session, request_id: int, *, final_attempt: bool = True) -> bool:
    """Ask every system for the subject of `request_id` and store the answers; False if there is
    nothing to do (unknown request, already looked up, or no longer waiting for verification)."""
    request = session.get(SubjectRequest, request_id)
    if request is None or request.lookup_done_at is not None or request.authorisation_pending:
        return False  # a representative's request: nothing is searched before their authorisation is accepted
    lookup = locate_everywhere(subject_identity(request.email, request.details, phone=request.lookup_phone))
    now = utcnow()
    session.execute(sa.delete(SubjectLocation).where(SubjectLocation.request_id == request.id))
    for key, ref in lookup.refs.items():
        session.add(
            SubjectLocation(
                request_id=request.id, system_key=key, found=ref.found, ref=ref.to_json(), located_at=now
            )
        )
    for key, error in lookup.errors.items():
        session.add(
            SubjectLocation(
                request_id=request.id, system_key=key, found=False, error=error[:300], located_at=now
            )
        )
    session.flush()
    phone = phone_on_file(session, request)
    if lookup.errors and phone is None and not final_attempt:
        record(
            session,
            "request.lookup_incomplete",
            actor_type="system",
            request_id=request.id,
            failed=len(lookup.errors),
        )
        # What the systems said is kept for staff (RetryLater commits it); the job is retried.
        raise LookupIncomplete(f"{len(lookup.errors)} system(s) did not answer")
    request.lookup_done_at = now
    request.step_up_required = request.right in STEP_UP_RIGHTS and phone is not None
    record(
        session,
        "request.located",
        actor_type="system",
        request_id=request.id,
        systems=len(lookup.refs) + len(lookup.errors),
        found=sum(1 for r in lookup.refs.values() if r.found),
        failed=len(lookup.errors),
        phone_on_file=phone is not None,
    )
    if request.status is RequestStatus.AWAITING_VERIFICATION:
        advance(session, request)
    return True


@job(QUEUE_CONNECTORS, timeout=300)
def lookup_subject(session: orm.Session, request_id: int) -> bool:
    """The lookup job of one filed request."""
    return locate_subject(session, request_id, final_attempt=is_final_attempt())
