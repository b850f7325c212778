"""The job that works one action task, on the task pipeline (claim, lease, retry, hand to a person).

First run: the subject's identifiers are frozen on the task (the intake lookup's ref, or located now)
and the plan, a dry run, is stored. It waits for an officer, or is applied at once where the law or a
rule wants that (dsr.actions.kinds.at_once). After approval the next run applies exactly the stored plan
(a rectification re-plans with the values the officer approved), then proves it: the connector looks at
the planned rows again and the subject is located again; anything still there that should be gone fails
the task for staff to see. Applying is idempotent per system, so a retry after a crash changes nothing
that was already changed.
"""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import orm

from dsr.actions.completion import after_task
from dsr.actions.kinds import (
    ACTIONS,
    AFTERWARDS,
    CONNECTOR_ACTION,
    at_once,
    can_do,
    connector_details,
    restricts_by_itself,
)
from dsr.cases.states import OPEN_STATUSES
from dsr.connectors.base import Action, ConnectorError, PermanentConnectorError, Plan, Proof, SubjectRef
from dsr.connectors.registry import subject_identity
from dsr.db import utcnow
from dsr.deadlines.rules import local_date
from dsr.models import RequestStatus, SubjectRequest, SystemTask, TaskAction
from dsr.queue import QUEUE_CONNECTORS, is_final_attempt, job
from dsr.tasks.pipeline import Attempt, Outcome, TaskRun, run_task, subject_ref
from dsr.tasks.registry import register_kind
from dsr.tasks.states import TaskEvent


class ProofFailed(PermanentConnectorError):
    """After apply, the system still holds what the plan changed: staff look, then retry."""


class ActionWork:
    def __init__(self, attempt: Attempt):
        self.attempt = attempt
        self.task, self.system, self.request = attempt.task, attempt.system, attempt.request
        self.connector = attempt.system.connector
        self.action = CONNECTOR_ACTION[attempt.task.action]

    def run(self) -> Outcome:
        ref = subject_ref(self.task, self.system, self.request)
        self.attempt.keep["ref"] = ref.to_json()
        result = self.task.result or {}
        if result.get("plan") and self.task.plan_approved_at is not None:
            return self._apply(ref, Plan.from_json(result["plan"]), {})
        plan = self._plan(ref)
        self.attempt.keep["plan"] = plan.to_json()
        automatic = at_once(self.task, self.request) and not (self.action is Action.RECTIFY and plan.empty)
        if not automatic:
            return Outcome(result={**self.attempt.keep, **self._memo()}, event=TaskEvent.PLANNED,
                           audit={"kind": self.task.action.value, "changes": len(plan.changes),
                                  "kept": sum(k.count for k in plan.kept)})
        return self._apply(ref, plan, {"plan_approved_at": utcnow()})

    def _plan(self, ref: SubjectRef) -> Plan:
        details = connector_details(self.task, self.system, self.request)
        if self.action is Action.RECTIFY and not details["values"]:
            return Plan(system_key=self.system.key, action=self.action.value)  # the officer says what changes
        today = local_date(utcnow(), current_app.extensions["dsr.controller"].timezone)
        return self.connector.plan(ref, self.action, details, today)

    def _memo(self) -> dict[str, Any]:
        """What the case page shows with a plan, besides the plan itself."""
        memo: dict[str, Any] = {}
        if self.action is Action.RECTIFY:
            memo["rectifiable"] = getattr(self.connector, "rectifiable", dict)()
        if self.action is Action.STOP:
            memo["processing"] = connector_details(self.task, self.system, self.request)["processing"]
        return memo

    def _apply(self, ref: SubjectRef, plan: Plan, columns: dict[str, Any]) -> Outcome:
        if self.action is Action.RECTIFY:
            plan = self._plan(ref)  # with the values the officer approved
            self.attempt.keep["plan"] = plan.to_json()
        self.attempt.progress(0)
        changed = self.connector.apply(ref, plan)
        proof = self._prove(ref, plan)
        self.attempt.keep["proof"] = proof.to_json()
        if not proof.ok:
            raise ProofFailed(f"system {self.system.key} still holds what the plan changed: "
                              + "; ".join(proof.problems)[:400])
        result = {**(self.task.result or {}), **self.attempt.keep, **self._memo(), "changed": changed}
        return Outcome(result=result, records=changed, columns=columns,
                       audit={"kind": self.task.action.value, "changed": changed, "digest": proof.digest})

    def _prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        proof = self.connector.prove(ref, plan)
        if self.action is Action.ERASE:
            # Located again: a record of the subject the plan did not know of (added since) is reported.
            request = self.request
            identity = subject_identity(request.email, request.details, phone=request.lookup_phone)
            again = self.connector.locate(identity)
            frozen = {key: set(map(str, values)) for key, values in ref.keys.items()}
            new = sum(1 for key, values in again.keys.items() for value in values
                      if str(value) not in frozen.get(key, set()))
            if new:
                proof.ok = False
                proof.problems.append(f"{new} record(s) of the subject found that the plan did not know of")
        return proof

    def abort(self) -> None:
        """Nothing half-written to remove: a connector's apply is one transaction, or idempotent calls."""

    def after_finish(self, session: orm.Session) -> None:
        if self.task.state.value == "done":
            after_task(session, self.task, self.request, self.system)


def wanted(request: SubjectRequest, task: SystemTask) -> bool:
    """Whether the case still wants this task done."""
    if task.action in AFTERWARDS:
        return True  # after the answer, on their own schedule
    if task.action is TaskAction.RESTRICT and restricts_by_itself(request):
        return request.status in OPEN_STATUSES
    return request.status is RequestStatus.IN_PROGRESS


def checklist(attempt: Attempt) -> dict[str, Any]:
    """What a person does in a system that cannot do the action by itself (a manual system, or one
    without the mechanism declared): the steps, in words (staff pages are in English)."""
    task, request, system = attempt.task, attempt.request, attempt.system
    details = request.details or {}
    steps = {
        TaskAction.ERASE: ["Find everything about the subject in this system.",
                           "Delete it, except what a law requires us to keep; note what you kept and why."],
        TaskAction.FOLLOW_UP_ERASE: ["Delete what was kept about the subject under a hold that has now ended."],
        TaskAction.RECTIFY: [f"What is wrong: {details.get('wrong', '')}".strip(),
                             f"What it should say: {details.get('correct', '')}".strip(),
                             "Correct the subject's records here, or note why they are right as they are."],
        TaskAction.RESTRICT: ["Mark the subject's records so they are stored but not otherwise used."],
        TaskAction.LIFT_RESTRICTION: ["Remove the restriction marker from the subject's records."],
        TaskAction.OBJECT: ["Stop all direct marketing to the subject from this system."],
        TaskAction.WITHDRAW_CONSENT: [f"Stop what rests on the withdrawn consent: {details.get('consent', '')}."],
    }[task.action]
    declared = _declared_steps(attempt)
    if declared:  # the system's own words replace the generic ones; what the subject asked for stays
        steps = (steps[:2] if task.action is TaskAction.RECTIFY else []) + declared
    if not getattr(system.connector, "needs_person", False):
        steps.insert(0, f"{system.name} does not do this by itself: do it by hand.")
    return {"checklist": steps}


def _declared_steps(attempt: Attempt) -> list[str]:
    """The system's `[systems.by_hand]` steps for this action, with what it lists of the subject's."""
    system, action = attempt.system, CONNECTOR_ACTION[attempt.task.action]
    if not system.connector.steps_by_hand(SubjectRef(system.key), action):
        return []  # nothing declared (asked with an empty ref, which costs no request)
    try:
        return system.connector.steps_by_hand(subject_ref(attempt.task, system, attempt.request), action)
    except ConnectorError as exc:  # the steps, less the empty listing's "nothing found" line, and why
        return [*system.connector.steps_by_hand(SubjectRef(system.key), action)[:-1],
                f"The list of what was found could not be made ({exc}): search {system.name} by hand."]
    finally:
        system.connector.close()


def run_action_task(session: orm.Session, task_id: int, *, final_attempt: bool) -> TaskRun:
    return run_task(session, task_id, action=ACTIONS, audit_prefix="actions", doing="acting on",
                    work=ActionWork, final_attempt=final_attempt, wanted=wanted, to_staff=checklist,
                    by_hand=lambda attempt: not can_do(attempt.system, attempt.task.action))


@job(QUEUE_CONNECTORS)
def act_on_system(session: orm.Session, task_id: int) -> str:
    """The job of one action task: plan it, or carry out its approved plan."""
    return run_action_task(session, task_id, final_attempt=is_final_attempt())


for _action in ACTIONS:
    register_kind(_action, act_on_system)
