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
from flask_babel import format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.actions.kinds import ACTIONS
from dsr.actions.objection import weighs_grounds
from dsr.cases.pages import CasePanel, register_panel
from dsr.connectors.base import Plan
from dsr.connectors.registry import get_systems
from dsr.models import (
    DeliveryStatus,
    Message,
    RecipientNotice,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from dsr.tasks.states import WORKING

ACTION_TEXT = {TaskAction.ERASE: _l("Erase"), TaskAction.FOLLOW_UP_ERASE: _l("Erase when the hold ends"),
               TaskAction.RECTIFY: _l("Rectify"), TaskAction.RESTRICT: _l("Restrict"),
               TaskAction.LIFT_RESTRICTION: _l("Lift the restriction"), TaskAction.OBJECT: _l("Stop direct marketing"),
               TaskAction.WITHDRAW_CONSENT: _l("Stop what the consent covered")}
STATE_TEXT = {TaskState.PENDING: _l("Queued"), TaskState.RUNNING: _l("Working"), TaskState.DONE: _l("Done and checked"),
              TaskState.FAILED: _l("Failed"), TaskState.WAITING_FOR_STAFF: _l("Waiting for staff"),
              TaskState.SKIPPED: _l("Skipped"), TaskState.AWAITING_APPROVAL: _l("Plan waits for approval")}
#: a plan's change in words, with its count and collection ("delete 12 in orders")
OPERATION_TEXT = {"delete": _l("delete %(count)s in %(collection)s"), "remove": _l("remove %(count)s in %(collection)s"),
                  "null": _l("clear fields of %(count)s in %(collection)s"),
                  "mask": _l("mask fields of %(count)s in %(collection)s"),
                  "update": _l("correct %(count)s in %(collection)s"), "flag": _l("flag %(count)s in %(collection)s"),
                  "unflag": _l("unflag %(count)s in %(collection)s"),
                  "suppress": _l("suppress %(count)s in %(collection)s"),
                  "unsuppress": _l("release %(count)s in %(collection)s"), "stop": _l("stop %(count)s in %(collection)s"),
                  "call": _l("call the API for %(count)s in %(collection)s")}
#: the action an Art. 19 notice tells a recipient of (RecipientNotice.action)
NOTICE_ACTION_TEXT = {"erase": _l("erasure"), "rectify": _l("rectification"), "restrict": _l("restriction")}
DELIVERY_TEXT = {DeliveryStatus.PENDING: _l("queued"), DeliveryStatus.SENT: _l("sent"),
                 DeliveryStatus.FAILED: _l("failed"), DeliveryStatus.NOT_SENT: _l("not sent")}


def _change_text(operation: str, count: int, collection: str) -> str:
    words = OPERATION_TEXT.get(operation)
    if words is None:  # an operation a newer connector declares: its code, as before
        return f"{operation} {count} in {collection}"
    return str(words) % {"count": format_decimal(count), "collection": collection}


@dataclass
class ActionRow:
    task: SystemTask
    name: str
    plan: Plan | None
    proof: dict[str, Any] | None
    checklist: list[str]
    rectifiable: dict[str, list[str]]
    #: the holds' grounds in the staff member's language, by hold key (as the controller declared them)
    grounds: dict[str, str] = field(default_factory=dict)

    @property
    def action_text(self) -> str:
        return str(ACTION_TEXT[self.task.action])

    @property
    def state_text(self) -> str:
        return str(STATE_TEXT[self.task.state])

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
        return [_change_text(c.operation, c.count, c.collection)
                + (f" ({', '.join(c.fields)})" if c.fields and c.operation in ("null", "mask", "update") else "")
                + (f": {c.text}" if c.text and c.operation in ("call", "stop") else "")
                for c in self.plan.changes]

    @property
    def kept(self) -> list[tuple[str, int, str, date | None]]:
        if self.plan is None:
            return []
        return [(k.collection, k.count, self.grounds.get(k.hold, k.ground),
                 date.fromisoformat(k.until) if k.until else None)
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

    @staticmethod
    def notice_action_text(notice: RecipientNotice) -> str:
        return str(NOTICE_ACTION_TEXT.get(notice.action, notice.action))

    @staticmethod
    def delivery_text(message: Message | None) -> str:
        return str(DELIVERY_TEXT[message.status]) if message is not None else str(DELIVERY_TEXT[DeliveryStatus.PENDING])

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
                              rectifiable=result.get("rectifiable") or {}, grounds=_hold_grounds(system)))
    notices = session.execute(sa.select(RecipientNotice, Message).outerjoin(
        Message, Message.id == RecipientNotice.message_id).where(RecipientNotice.request_id == request.id)
        .order_by(RecipientNotice.id)).all()
    return ActionsPanel(request=request, rows=rows, notices=[tuple(n) for n in notices], weighs_objection=weighs)


def _hold_grounds(system) -> dict[str, str]:
    nb = str(get_locale()) == "nb"
    holds = getattr(system.connector, "holds", None) if system else None
    return {key: (hold.ground_nb if nb and hold.ground_nb else hold.ground) for key, hold in (holds or {}).items()}


register_panel(CasePanel(template="actions/_panel.html", build=lambda session, case, masked: actions_panel(
    session, case, masked=masked), running=lambda panel: panel.running, actions=ACTIONS))
