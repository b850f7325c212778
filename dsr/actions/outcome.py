"""The outcome of the action tasks in words a letter and a page can use: per system, what was done, what
was kept under which ground until when, and what a person did by hand. Counts and names only."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import orm

from dsr.connectors.base import Plan
from dsr.connectors.registry import get_systems
from dsr.models import SubjectRequest, SystemTask, TaskAction, TaskState


@dataclass
class KeptItem:
    collection: str
    count: int
    ground: str
    until: date | None


@dataclass
class SystemOutcome:
    """One system's row in the outcome letter and on the case page."""

    name: str
    action: str  # erase | rectify | restrict | object | withdraw_consent
    state: str  # done | skipped | failed | ... (the task's)
    deleted: int = 0  # records removed
    cleared: int = 0  # records whose fields were emptied or masked
    updated: list[str] = field(default_factory=list)  # fields corrected
    restricted: bool = False
    stopped: list[str] = field(default_factory=list)  # processing names
    kept: list[KeptItem] = field(default_factory=list)
    by_hand: bool = False  # a person did it (a manual system, or one that cannot by itself)
    note: str = ""  # what the person recorded

    @property
    def nothing(self) -> bool:
        return not (self.deleted or self.cleared or self.updated or self.restricted or self.stopped or self.kept
                    or self.by_hand)


def outcome_rows(session: orm.Session, request: SubjectRequest, tasks: list[SystemTask]) -> list[SystemOutcome]:
    systems = get_systems(current_app)
    rows = []
    for task in tasks:
        system = systems.get(task.system_key)
        name = task.system_key if system is None else \
            (system.connector.settings.get("name_nb") if request.language == "nb" else None) or system.name
        rows.append(system_outcome(task, name, request.language))
    return rows


def system_outcome(task: SystemTask, name: str, language: str) -> SystemOutcome:
    result = task.result or {}
    row = SystemOutcome(name=name, action=task.action.value, state=task.state.value)
    if result.get("done_by"):
        row.by_hand, row.note = True, result.get("note", "")
        return row
    plan = Plan.from_json(result["plan"]) if result.get("plan") else None
    if plan is None or task.state is not TaskState.DONE:
        return row
    processing = _processing_names(task, language)
    for change in plan.changes:
        if change.operation in ("delete", "remove"):
            row.deleted += change.count
        elif change.operation in ("null", "mask"):
            row.cleared = max(row.cleared, change.count)
        elif change.operation == "update":
            row.updated += [f for f in change.fields if f not in row.updated]
        elif change.operation in ("flag", "suppress"):
            row.restricted = True
        elif change.operation in ("stop", "call"):
            if task.action in (TaskAction.OBJECT, TaskAction.WITHDRAW_CONSENT):
                row.stopped = processing
            elif task.action is TaskAction.RESTRICT:
                row.restricted = True
            elif task.action is TaskAction.RECTIFY:
                row.updated += [f for f in change.values if f not in row.updated]
            else:
                row.deleted += change.count
    if task.action in (TaskAction.OBJECT, TaskAction.WITHDRAW_CONSENT) and any(
            c.operation == "delete" for c in plan.changes):
        row.stopped = processing
    grounds = _grounds(task, language)
    for kept in plan.kept:
        row.kept.append(KeptItem(kept.collection, kept.count, grounds.get(kept.hold, kept.ground),
                                 date.fromisoformat(kept.until) if kept.until else None))
    return row


def _processing_names(task: SystemTask, language: str) -> list[str]:
    system = get_systems(current_app).get(task.system_key)
    wanted = set((task.result or {}).get("processing") or [])
    if system is None:
        return sorted(wanted)
    return [(p.name_nb if language == "nb" and p.name_nb else p.name) for p in system.connector.processing()
            if p.key in wanted]


def _grounds(task: SystemTask, language: str) -> dict[str, str]:
    """The holds' grounds in the case's language, as the controller declared them."""
    system = get_systems(current_app).get(task.system_key)
    holds: Any = getattr(system.connector, "holds", None) if system else None
    return {key: (hold.ground_nb if language == "nb" and hold.ground_nb else hold.ground)
            for key, hold in (holds or {}).items()}
