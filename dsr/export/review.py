"""The export on the staff case page (a panel the case area shows): progress per system, the manual
systems, the bundle to review and release. Read only; the actions are the export's services."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.bundle.content import STATUS_ORDER
from dsr.cases.pages import CasePanel, register_panel
from dsr.connectors.registry import get_systems
from dsr.export.bundle_parts import system_name
from dsr.export.delta import EarlierAnswer, earlier_answer
from dsr.export.parts import answered_systems, given_bundles
from dsr.export.redaction import RedactionTarget, redactions_of, targets
from dsr.export.tasks import export_tasks
from dsr.models import (
    BundleKind,
    BundleRedaction,
    BundleStatus,
    BundleTransmission,
    ExportBundle,
    RequestStatus,
    Right,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from dsr.tasks.states import FINISHED, WORKING

EXPORT_RIGHTS = (Right.ACCESS, Right.PORTABILITY)

STATE_TEXT = {
    TaskState.PENDING: _l("Queued"),
    TaskState.RUNNING: _l("Collecting"),
    TaskState.DONE: _l("Done"),
    TaskState.FAILED: _l("Failed"),
    TaskState.WAITING_FOR_STAFF: _l("Waiting for staff"),
    TaskState.SKIPPED: _l("Skipped"),
}
BUNDLE_STATUS_TEXT = {
    BundleStatus.ASSEMBLING: _l("assembling"),
    BundleStatus.READY_FOR_REVIEW: _l("ready for review"),
    BundleStatus.RELEASED: _l("released"),
    BundleStatus.EXPIRED: _l("expired"),
    BundleStatus.FAILED: _l("failed"),
}
STATE_CSS = {TaskState.DONE: "tag-ok", TaskState.FAILED: "tag-overdue", TaskState.WAITING_FOR_STAFF: "tag-soon"}


@dataclass(frozen=True)
class DataFile:
    path: str  # as in the bundle: data/<system>/<file>
    size: int | None  # bytes (the uncompressed file); None when not known


@dataclass
class SystemRow:
    task: SystemTask
    name: str
    manual: bool
    files: list[DataFile] = field(default_factory=list)

    @property
    def state_text(self) -> str:
        return str(STATE_TEXT[self.task.state])

    @property
    def state_css(self) -> str:
        return STATE_CSS.get(self.task.state, "")

    @property
    def waiting_for_staff(self) -> bool:
        return self.task.state is TaskState.WAITING_FOR_STAFF

    @property
    def outcome(self) -> str:
        """What the bundle says about this system."""
        if self.task.state not in (TaskState.DONE, TaskState.SKIPPED):
            return "Not collected"
        return "Data found" if self.files else "Nothing found"


@dataclass
class ReviewTools:
    """What staff may still change in the bundle under review (dsr.export.review_views)."""

    targets: list[RedactionTarget] = field(default_factory=list)  # collections and uploads to redact
    redactions: list[BundleRedaction] = field(default_factory=list)
    earlier: EarlierAnswer | None = None  # a repeat access request: the last answer, to answer with changes
    receiver: str | None = None  # a portability request: the receiving service the subject named

    @property
    def uploads(self) -> list[RedactionTarget]:
        return [target for target in self.targets if target.collection is None]


@dataclass
class ExportPanel:
    request: SubjectRequest
    rows: list[SystemRow]
    bundle: ExportBundle | None  # the one under work, else the last one released
    #: the parts released to the subject so far (a partial answer's first part, ...)
    given: list[ExportBundle] = field(default_factory=list)
    tools: ReviewTools | None = None
    transmissions: list[BundleTransmission] = field(default_factory=list)

    @property
    def bundle_status_text(self) -> str:
        return str(BUNDLE_STATUS_TEXT[self.bundle.status]) if self.bundle is not None else ""

    @property
    def answered_elsewhere(self) -> set[str]:
        """Systems a released part other than the bundle shown answered for."""
        return answered_systems([b for b in self.given if self.bundle is None or b.id != self.bundle.id])

    @property
    def part_rows(self) -> list[SystemRow]:
        """The systems of the bundle shown (a later part holds only those the earlier ones lacked)."""
        return [row for row in self.rows if row.task.system_key not in self.answered_elsewhere]

    @property
    def owed(self) -> list[SystemRow]:
        """After a partial part was released: the systems the case stays open for."""
        if not self.given or self.request.status not in (RequestStatus.IN_PROGRESS, RequestStatus.READY_FOR_REVIEW):
            return []
        answered = answered_systems(self.given)
        return [row for row in self.rows if row.task.system_key not in answered]

    @property
    def running(self) -> bool:
        """Work the page should follow by itself: a system queued or collecting, or the bundle to assemble."""
        if any(row.task.state in WORKING for row in self.rows):
            return True
        waiting_rows = self.owed if self.bundle is not None and self.bundle.status is BundleStatus.RELEASED else None
        if self.bundle is None or waiting_rows:  # every system (still owed) finished: the assembly is on its way
            rows = waiting_rows or self.rows
            finished = all(row.task.state in (TaskState.DONE, TaskState.SKIPPED) for row in rows)
            return bool(rows) and finished and self.request.status is RequestStatus.IN_PROGRESS
        return self.bundle.status is BundleStatus.ASSEMBLING

    @property
    def failed(self) -> list[SystemRow]:
        return [row for row in self.part_rows if row.task.state is TaskState.FAILED]

    @property
    def waiting(self) -> list[SystemRow]:
        return [row for row in self.rows if row.waiting_for_staff]

    @property
    def can_assemble_partial(self) -> bool:
        """Every system finished or failed, at least one failed, and no bundle yet (dsr.export.assembly's rule)."""
        unfinished = self.running or self.waiting
        no_bundle = self.bundle is None or self.bundle.status is BundleStatus.RELEASED or (
            self.bundle.status is BundleStatus.ASSEMBLING and not self.bundle.partial)
        something = not self.given or len(self.failed) < len(self.part_rows)  # a later part needs something new
        return bool(self.failed) and something and not unfinished and no_bundle \
            and self.request.status is RequestStatus.IN_PROGRESS

    @property
    def covered(self) -> list[SystemRow]:
        return [row for row in self.part_rows if row.outcome != "Not collected"]

    @property
    def missing(self) -> list[SystemRow]:
        return [row for row in self.part_rows if row.outcome == "Not collected"]

    @property
    def files(self) -> list[DataFile]:
        return [file for row in self.part_rows for file in row.files]

    @property
    def records(self) -> int:
        return sum(row.task.records for row in self.covered)


def export_panel(session: orm.Session, request: SubjectRequest, *, masked: bool) -> ExportPanel | None:
    """The export of an access or portability case, or None (another right, or nothing started yet).
    `masked` (viewers) hides the names of uploaded files, which may name the subject."""
    if request.right not in EXPORT_RIGHTS:
        return None
    tasks = export_tasks(session, request.id)
    bundle = current_bundle(session, request.id)
    if not tasks and bundle is None:
        return None
    systems = get_systems(current_app)
    rows = []
    for task in tasks:
        system = systems.get(task.system_key)
        rows.append(SystemRow(task=task, name=system.name if system else task.system_key,
                              manual=bool(system and getattr(system.connector, "needs_person", False)),
                              files=_data_files(task, masked)))
    transmissions = list(session.scalars(sa.select(BundleTransmission).where(
        BundleTransmission.request_id == request.id).order_by(BundleTransmission.id)))
    return ExportPanel(request=request, rows=rows, bundle=bundle, given=given_bundles(session, request.id),
                       tools=_review_tools(session, request, bundle, masked), transmissions=transmissions)


def _review_tools(session: orm.Session, request: SubjectRequest, bundle: ExportBundle | None,
                  masked: bool) -> ReviewTools | None:
    """For a bundle ready for review (None otherwise, and for viewers: they change nothing)."""
    if masked or bundle is None or bundle.status is not BundleStatus.READY_FOR_REVIEW:
        return None
    return ReviewTools(targets=targets(session, request), redactions=redactions_of(session, request.id),
                       earlier=earlier_answer(session, request) if bundle.kind is BundleKind.ACCESS else None,
                       receiver=receiving_service(request) if bundle.kind is BundleKind.PORTABILITY else None)


def current_bundle(session: orm.Session, request_id: int) -> ExportBundle | None:
    return session.scalars(sa.select(ExportBundle).where(ExportBundle.request_id == request_id)
                           .order_by(ExportBundle.id.desc()).limit(1)).first()


def _data_files(task: SystemTask, masked: bool) -> list[DataFile]:
    """The data files this system adds to the bundle (the same names dsr.bundle.content writes)."""
    if task.state is not TaskState.DONE:
        return []
    result = task.result or {}
    files = []
    for name, info in (result.get("collections") or {}).items():
        if info.get("records"):
            files.append(DataFile(f"data/{task.system_key}/{name}.json", info.get("json_bytes")))
            files.append(DataFile(f"data/{task.system_key}/{name}.csv", info.get("csv_bytes")))
    upload = result.get("upload")
    if upload:
        shown = "[uploaded file]" if masked else upload.get("filename", "upload")
        files.append(DataFile(f"data/{task.system_key}/{shown}", upload.get("size")))
    return files


def manual_task_of(session: orm.Session, request: SubjectRequest, task_id: int):
    """(task, system) of a manual system's export task on this case, or None."""
    task = session.get(SystemTask, task_id)
    if task is None or task.request_id != request.id or task.action is not TaskAction.EXPORT:
        return None
    system = get_systems(current_app).get(task.system_key)
    if system is None or not getattr(system.connector, "needs_person", False):
        return None
    return task, system


def system_outcomes(session: orm.Session, request: SubjectRequest,
                    bundle: ExportBundle | None = None) -> list[dict[str, str]]:
    """Per system, in the case's language: its name and "collected", "nothing_found" or "not_collected" (what
    the letter tells the subject, as the bundle's index does), those holding data first. With `bundle`: the
    systems it answers for and those still owed after it (an earlier part's systems are left out)."""
    systems = get_systems(current_app)
    mine = set(bundle.systems or ()) if bundle is not None else None
    elsewhere = answered_systems([b for b in given_bundles(session, request.id) if b.id != bundle.id]) \
        if bundle is not None else set()
    outcomes = []
    for task in export_tasks(session, request.id):
        system = systems.get(task.system_key)
        if system is None or task.system_key in elsewhere - (mine or set()):
            continue
        if task.state not in FINISHED or (mine is not None and task.system_key not in mine):
            outcome = "not_collected"
        else:
            outcome = "collected" if task.records else "nothing_found"
        outcomes.append({"name": system_name(system, request.language), "outcome": outcome})
    return sorted(outcomes, key=lambda o: STATUS_ORDER[o["outcome"]])


def receiving_service(request: SubjectRequest) -> str | None:
    """The receiving controller the subject named on the portability form, if any (Art. 20(2))."""
    return ((request.details or {}).get("receiving_service") or "").strip() or None


register_panel(CasePanel(template="export/_panel.html", build=lambda session, case, masked: export_panel(
    session, case, masked=masked), running=lambda panel: panel.running, actions=frozenset({TaskAction.EXPORT})))
