"""Art. 21(1): an objection to processing other than direct marketing is weighed by an officer: the
subject's grounds, relating to their situation, against the controller's compelling legitimate grounds.
Meanwhile processing is restricted (started when the case opened). Upheld: the data is erased (Art.
17(1)(c)), through the erasure's plans. Rejected: the case completes with a letter giving the grounds,
and the restriction ends once that letter was delivered."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.actions.completion import complete_if_done
from dsr.actions.starting import write_tasks
from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.opening import DIRECT_MARKETING
from dsr.cases.states import Action
from dsr.db import utcnow
from dsr.models import RequestStatus, Right, StaffUser, SubjectRequest, TaskAction

OUTCOMES = ("upheld", "rejected")


class ObjectionError(ValueError):
    """The balancing cannot be recorded as asked (the message says why)."""


def weighs_grounds(request: SubjectRequest) -> bool:
    return request.right is Right.OBJECTION and (request.details or {}).get("processing") != DIRECT_MARKETING


def decide_objection(session: orm.Session, request: SubjectRequest, *, actor: StaffUser, grounds: str,
                     outcome: str) -> None:
    if not weighs_grounds(request):
        raise ObjectionError(_("only an objection to processing other than direct marketing is weighed"))
    if request.objection_outcome is not None:
        raise ObjectionError(_("the objection has already been decided"))
    if outcome not in OUTCOMES:
        raise ObjectionError(_("choose whether the objection is upheld or rejected"))
    grounds = (grounds or "").strip()
    if not grounds:
        raise ObjectionError(_("write the grounds weighed: the subject's situation against ours (the letter gives "
                               "them)"))
    if len(grounds) > 4000:
        raise ObjectionError(_("the grounds are too long (%(length)d characters; at most 4000)", length=len(grounds)))
    if request.status is RequestStatus.OPEN:
        states.apply(request, Action.APPROVE)
        request.decided_at, request.decided_by_id = utcnow(), actor.id
    elif request.status is not RequestStatus.IN_PROGRESS:
        raise ObjectionError(_("the case is %(status)s", status=request.status.value.replace("_", " ")))
    request.objection_grounds, request.objection_outcome = grounds, outcome
    request.objection_decided_by_id = actor.id
    record(session, "objection.decided", actor_type="staff", actor_id=actor.id, request_id=request.id,
           outcome=outcome)
    if outcome == "upheld":
        write_tasks(session, request, TaskAction.ERASE)
    session.flush()
    complete_if_done(session, request)
