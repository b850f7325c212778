"""Identity proven: the request becomes a case. One path for every way identity is established
(codes from the portal, or staff recording how they confirmed a request that came by post).

Consent withdrawal (Art. 7(3)) and objection to direct marketing (Art. 21(3)) take effect at
once: they skip the approval gate and their automated work starts in the same transaction.

A case filed by someone acting for the subject opens on the representative's proof, but its work in
the systems (what starts at opening, what takes effect at once) waits until staff accepted the
authorisation: `start_held_work` runs it then.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.states import Action
from dsr.connectors.registry import get_systems
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.models import RequestStatus, Right, StaffUser, SubjectRequest
from dsr.models.request import STAFF_IDENTITY_PREFIX
from dsr.tasks.registry import start_opening_work, start_work

#: how staff established identity -> what they tick; stored as identity_method "staff:<key>"
IDENTITY_METHODS = {
    "email_on_file": _l("It came from the e-mail address we already hold for this person"),
    "postal_address_on_file": _l("The letter came from, and we answer to, the postal address we already hold"),
    "phone_callback": _l("We called back the phone number we already hold and the person confirmed it"),
    "in_person": _l("Shown in person to a member of staff (no copy of any ID kept)"),
    "customer_login": _l("The person was signed in to their customer account when asking"),
}



class UnknownIdentityMethod(ValueError):
    """Staff must say how they established identity, from IDENTITY_METHODS."""


#: details["processing"] of an objection to direct marketing (absolute: no balancing, Art. 21(3))
DIRECT_MARKETING = "direct_marketing"
#: details["consent"] of a withdrawal of a consent no system declares (staff handle it)
OTHER_CONSENT = "other"


def takes_effect_at_once(request: SubjectRequest) -> bool:
    """Art. 7(3), 21(3): a withdrawn consent a system declares, and an objection to direct marketing,
    take effect without waiting for a decision."""
    details = request.details or {}
    if request.right is Right.WITHDRAW_CONSENT:
        declared = {p.key for system in get_systems(current_app).values() for p in system.connector.processing()
                    if "consent" in p.bases}
        return details.get("consent") in declared
    return request.right is Right.OBJECTION and details.get("processing") == DIRECT_MARKETING


def open_case(session: orm.Session, request: SubjectRequest, *, method: str, actor_type: str = "subject",
              actor_id: int | str | None = None) -> SubjectRequest:
    """Mark identity as established by `method` (e.g. "email_code+sms_code", "staff:post_letter")
    and open the case; fast-path rights are approved by the system at once."""
    states.apply(request, Action.VERIFY)
    request.verified_at = utcnow()
    request.identity_method = method
    if request.due_on is None:
        # The clock ran from receipt all along; store its dates now if whoever made the row did not,
        # so no case can sit in the queue without a deadline.
        refresh_deadlines(request, current_app.extensions["dsr.controller"])
    record(session, "case.opened", actor_type=actor_type, actor_id=actor_id, request_id=request.id,
           method=method)
    if not request.authorisation_pending:
        _start_work_at_opening(session, request)
    session.flush()
    return request


def start_held_work(session: orm.Session, request: SubjectRequest) -> None:
    """The representative's authorisation was accepted: what opening the case would have started, now."""
    undecided = request.status in (RequestStatus.OPEN, RequestStatus.AWAITING_SUBJECT)
    if request.verified_at is not None and undecided and not request.authorisation_pending:
        _start_work_at_opening(session, request)
        session.flush()


def _start_work_at_opening(session: orm.Session, request: SubjectRequest) -> None:
    start_opening_work(session, request)
    if takes_effect_at_once(request):
        states.apply(request, Action.APPROVE)
        request.decided_at = utcnow()
        started = start_work(session, request)
        record(session, "case.approved", actor_type="system", request_id=request.id, reason="immediate_effect",
               automated=started)


def record_identity(
    session: orm.Session, request: SubjectRequest, *, actor: StaffUser, how: str
) -> SubjectRequest:
    """Staff established identity (`how`: a key of IDENTITY_METHODS): the request becomes a case."""
    if how not in IDENTITY_METHODS:
        raise UnknownIdentityMethod("Choose how identity was established.")
    return open_case(session, request, method=f"{STAFF_IDENTITY_PREFIX}{how}", actor_type="staff",
                     actor_id=actor.id)
