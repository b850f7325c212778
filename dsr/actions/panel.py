"""The actions on the staff case page (a panel the case area shows): per system the plan (what would be
deleted, cleared, corrected, flagged or stopped, with counts; what is kept under which hold until when),
its state, the proof, a follow-up erasure's date, a person's checklist; the restriction's dates; the
balancing of an objection; the Art. 19 notices. Read only."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.actions.kinds import ACTIONS
from dsr.actions.objection import weighs_grounds
from dsr.cases.pages import CasePanel, register_panel
from dsr.connectors.base import Plan
from dsr.connectors.registry import get_systems
from dsr.models import Message, RecipientNotice, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.tasks.states import WORKING

ACTION_TEXT = {TaskAction.ERASE: "Erase", TaskAction.FOLLOW_UP_ERASE: "Erase when the hold ends",
               TaskAction.RECTIFY: "Rectify", TaskAction.RESTRICT: "Restrict",
               TaskAction.LIFT_RESTRICTION: "Lift the restriction", TaskAction.OBJECT: "Stop direct marketing",
               TaskAction.WITHDRAW_CONSENT: "Stop what the consent covered"}
STATE_TEXT = {TaskState.PENDING: "Queued", TaskState.RUNNING: "Working", TaskState.DONE: "Done and checked",
              TaskState.FAILED: "Failed", TaskState.WAITING_FOR_STAFF: "Waiting for staff",
              TaskState.SKIPPED: "Skipped", TaskState.AWAITING_APPROVAL: "Plan waits for approval"}
OPERATION_TEXT = {"delete": "delete", "remove": "remove", "null": "clear fields of", "mask": "mask fields of",
                  "update": "correct", "flag": "flag", "unflag": "unflag", "suppress": "suppress",
                  "unsuppress": "release", "stop": "stop", "call": "call the API for"}


@dataclass
class ActionRow:
    task: SystemTask
    name: str
    plan: Plan | None
    proof: dict[str, Any] | None
    checklist: list[str]
    rectifiable: dict[str, list[str]]

    @property
    def action_text(self) -> str:
        return ACTION_TEXT[self.task.action]

    @property
    def state_text(self) -> str:
        return STATE_TEXT[self.task.state]

    @property
    def state_css(self) -> str:
        return {TaskState.DONE: "tag-ok", TaskState.FAILED: "tag-overdue"}.get(
            self.task.state, "tag-soon" if self.task.state in (TaskState.AWAITING_APPROVAL,
                                                                TaskState.WAITING_FOR_STAFF) else "")

    @property
    def changes(self) -> list[str]:
        """The plan's operations in words, with counts ("delete 12 in orders")."""
        if self.plan is None:
            return []
        return [f"{OPERATION_TEXT.get(c.operation, c.operation)} {c.count} in {c.collection}"
                + (f" ({', '.join(c.fields)})" if c.fields and c.operation in ("null", "mask", "update") else "")
                + (f": {c.text}" if c.text and c.operation in ("call", "stop") else "")
                for c in self.plan.changes]

    @property
    def kept(self) -> list[tuple[str, int, str, date | None]]:
        if self.plan is None:
            return []
        return [(k.collection, k.count, k.ground, date.fromisoformat(k.until) if k.until else None)
                for k in self.plan.kept]


@dataclass
class ActionsPanel:
    request: SubjectRequest
    rows: list[ActionRow]
    notices: list[tuple[RecipientNotice, Message | None]] = field(default_factory=list)
    weighs_objection: bool = False

    @property
    def running(self) -> bool:
        return any(row.task.state in WORKING and row.task.action
                   is not TaskAction.FOLLOW_UP_ERASE for row in self.rows)

    @property
    def waiting_approval(self) -> list[ActionRow]:
        return [row for row in self.rows if row.task.state is TaskState.AWAITING_APPROVAL]

    @property
    def follow_ups(self) -> list[ActionRow]:
        return [row for row in self.rows if row.task.action is TaskAction.FOLLOW_UP_ERASE
                and row.task.state is TaskState.PENDING]

    @property
    def counts(self) -> Counter:
        return Counter(row.task.state for row in self.rows)

    @property
    def can_lift(self) -> bool:
        request = self.request
        return bool(request.restricted_at) and request.restriction_lifted_at is None and request.lift_notice_id is None


def actions_panel(session: orm.Session, request: SubjectRequest, *, masked: bool) -> ActionsPanel | None:
    tasks = session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request.id,
                                                        SystemTask.action.in_(list(ACTIONS)))
                            .order_by(SystemTask.id)).all()
    weighs = weighs_grounds(request) and request.status.value not in ("awaiting_verification", "expired")
    if not tasks and not weighs:
        return None
    systems = get_systems(current_app)
    rows = []
    for task in tasks:
        result = task.result or {}
        system = systems.get(task.system_key)
        rows.append(ActionRow(task=task, name=system.name if system else task.system_key,
                              plan=Plan.from_json(result["plan"]) if result.get("plan") else None,
                              proof=result.get("proof"), checklist=list(result.get("checklist") or []),
                              rectifiable=result.get("rectifiable") or {}))
    notices = session.execute(sa.select(RecipientNotice, Message).outerjoin(
        Message, Message.id == RecipientNotice.message_id).where(RecipientNotice.request_id == request.id)
        .order_by(RecipientNotice.id)).all()
    return ActionsPanel(request=request, rows=rows, notices=[tuple(n) for n in notices], weighs_objection=weighs)


register_panel(CasePanel(template="actions/_panel.html", build=lambda session, case, masked: actions_panel(
    session, case, masked=masked), running=lambda panel: panel.running, actions=ACTIONS))
