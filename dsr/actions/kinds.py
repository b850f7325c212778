"""Which task actions exist, what each asks of a connector, and which need an officer's look at the plan.

A plan waits for an officer unless the law or a rule wants the action at once: an objection to direct
marketing and a withdrawn consent stop "at once" (Art. 21(3), 7(3)); a restriction the portal applies
by itself while accuracy is contested or an objection weighed (Art. 18(1)(a), (d)); a follow-up erasure
the day a hold ends; lifting a restriction the subject was told of; and anything when the controller
set DSR_ACTIONS_AUTO_APPLY.
"""
from __future__ import annotations

from typing import Any

from flask import current_app

from dsr.cases.opening import DIRECT_MARKETING
from dsr.connectors.base import Action
from dsr.connectors.registry import System
from dsr.models import Right, SubjectRequest, SystemTask, TaskAction

CONNECTOR_ACTION: dict[TaskAction, Action] = {
    TaskAction.ERASE: Action.ERASE,
    TaskAction.FOLLOW_UP_ERASE: Action.ERASE,
    TaskAction.RECTIFY: Action.RECTIFY,
    TaskAction.RESTRICT: Action.RESTRICT,
    TaskAction.LIFT_RESTRICTION: Action.LIFT_RESTRICTION,
    TaskAction.OBJECT: Action.STOP,
    TaskAction.WITHDRAW_CONSENT: Action.STOP,
}
ACTIONS = frozenset(CONNECTOR_ACTION)
ALWAYS_AT_ONCE = frozenset({TaskAction.OBJECT, TaskAction.WITHDRAW_CONSENT, TaskAction.FOLLOW_UP_ERASE,
                            TaskAction.LIFT_RESTRICTION})
#: what happens after the case is answered, on its own schedule: never holds the case open
AFTERWARDS = frozenset({TaskAction.FOLLOW_UP_ERASE, TaskAction.LIFT_RESTRICTION})
#: Art. 19: the recipients of a system's data are told of these
TOLD_TO_RECIPIENTS = frozenset({TaskAction.ERASE, TaskAction.RECTIFY, TaskAction.RESTRICT})

#: the basis a stop rests on: an objection to direct marketing, or a consent withdrawn
STOP_BASIS = {TaskAction.OBJECT: "direct_marketing", TaskAction.WITHDRAW_CONSENT: "consent"}


def restricts_by_itself(request: SubjectRequest) -> bool:
    """Art. 18(1)(a) and (d): processing is restricted while accuracy is contested or an objection
    (other than to direct marketing) is weighed."""
    if request.right is Right.RECTIFICATION:
        return True
    return request.right is Right.OBJECTION and (request.details or {}).get("processing") != DIRECT_MARKETING


def at_once(task: SystemTask, request: SubjectRequest) -> bool:
    """Applied right after planning, without an officer's review of the plan."""
    if task.action in ALWAYS_AT_ONCE or current_app.config["ACTIONS_AUTO_APPLY"]:
        return True
    return task.action is TaskAction.RESTRICT and request.right is not Right.RESTRICTION


def wanted_processing(system: System, action: TaskAction, request: SubjectRequest) -> list[str]:
    """The keys of the processing a stop task ends in this system: everything resting on the basis
    (direct marketing), or the consent the subject chose."""
    basis = STOP_BASIS[action]
    declared = [p for p in system.connector.processing() if basis in p.bases]
    if action is TaskAction.WITHDRAW_CONSENT:
        chosen = (request.details or {}).get("consent")
        declared = [p for p in declared if p.key == chosen]
    return [p.key for p in declared]


def connector_details(task: SystemTask, system: System, request: SubjectRequest) -> dict[str, Any]:
    """What the connector's plan needs besides the subject's ref."""
    if task.action in STOP_BASIS:
        return {"processing": wanted_processing(system, task.action, request)}
    if task.action is TaskAction.RECTIFY:
        return {"values": (task.result or {}).get("values", {})}
    return {}


def can_do(system: System, action: TaskAction) -> bool:
    """The system does it by itself; otherwise a person does it, from a checklist."""
    connector = system.connector
    return not getattr(connector, "needs_person", False) and CONNECTOR_ACTION[action] in connector.actions()
