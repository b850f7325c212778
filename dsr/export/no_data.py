"""The access or portability answer "we hold no data about you". Art. 15(1) gives the right to
confirmation of whether personal data is processed: when every system was searched and none holds
anything, that confirmation is the answer (not a refusal: the request is carried out).

It can be given once every connected system has been searched with nothing found: before approval, on
the intake lookup's answers, when every system answered it and none needs a person to search it; after
approval, on the export's, when every system's search is done without a record (a person's search of a
manual system included). The letter names the systems searched, says what the portal itself keeps of the
request (the Art. 15(1) facts that still apply) and gives the right to complain to the supervisory
authority and to go to court. An unreleased bundle, which holds no data, is deleted with the answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import orm

from dsr.cases import states
from dsr.cases.decisions import DecisionError, checked_text, record_staff
from dsr.cases.pages import CasePanel, register_panel
from dsr.cases.states import Action
from dsr.connectors.registry import get_systems
from dsr.db import on_commit, utcnow
from dsr.export import storage
from dsr.export.review import EXPORT_RIGHTS, STATE_TEXT
from dsr.export.tasks import export_tasks
from dsr.models import (
    BundleStatus,
    ExportBundle,
    Message,
    RequestStatus,
    StaffUser,
    SubjectLocation,
    SubjectRequest,
)
from dsr.notify.letters import send_subject_letter
from dsr.tasks.states import FINISHED

NO_DATA_LETTER = "no_data_held"
#: where the answer can be given: before approval (on the lookup) or at the review (on the export)
_ANSWERABLE = (RequestStatus.OPEN, RequestStatus.AWAITING_SUBJECT, RequestStatus.READY_FOR_REVIEW)


@dataclass(frozen=True)
class NoDataEvidence:
    searched: list[str]  # the systems searched that held nothing (staff's names)
    searched_for_subject: list[str]  # the same names as the case's language has them
    how: str  # "lookup" (before approval) or "export"
    found_in: list[str]  # systems that hold data on the subject: the answer would be wrong
    blocker: str | None  # why the answer cannot be given now, for staff; None when it can

    @property
    def possible(self) -> bool:
        return self.blocker is None


def _subject_name(system, language: str) -> str:
    return (system.connector.settings.get("name_nb") if language == "nb" else None) or system.name


def no_data_evidence(session: orm.Session, request: SubjectRequest) -> NoDataEvidence | None:
    """What the searches found for an access or portability case (None for other rights)."""
    if request.right not in EXPORT_RIGHTS:
        return None
    systems = get_systems(current_app)
    tasks = export_tasks(session, request.id)
    searched, found, waiting = [], [], []
    if tasks:
        how = "export"
        for task in tasks:
            system = systems.get(task.system_key)
            if system is None:
                continue
            result = task.result or {}
            # "found": the system located the subject, even where a portability export kept no record
            # (it leaves out what the subject did not provide); "upload": a person found something.
            if task.state not in FINISHED:
                waiting.append(_("%(system)s (%(state)s)", system=system.name,
                                 state=str(STATE_TEXT[task.state]).lower()))
            elif task.records or result.get("found") or result.get("upload"):
                found.append(system.name)
            else:
                searched.append(system)
    else:
        how = "lookup"
        locations = {row.system_key: row for row in session.scalars(
            sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id))}
        for key, system in systems.items():
            location = locations.get(key)
            if getattr(system.connector, "needs_person", False):
                waiting.append(_("%(system)s (a person must search it: approve the request first)", system=system.name))
            elif location is None:
                waiting.append(_("%(system)s (not searched yet: approve the request so it is searched)",
                                 system=system.name))
            elif location.error:
                waiting.append(_("%(system)s (did not answer the search: approve the request so it is searched "
                                 "again)", system=system.name))
            elif location.found:
                found.append(system.name)
            else:
                searched.append(system)
    blocker = None
    if found:
        blocker = ngettext("%(systems)s holds data about the subject: answer with their data.",
                           "%(systems)s hold data about the subject: answer with their data.", len(found),
                           systems=", ".join(found))
    elif waiting:
        blocker = _("Not every system has been searched: %(systems)s.", systems="; ".join(waiting))
    elif not searched:
        blocker = _("No connected system has been searched.")
    elif request.status is RequestStatus.IN_PROGRESS:
        blocker = _("Wait until the export is assembled, then answer from its review.")
    return NoDataEvidence(searched=[s.name for s in searched],
                          searched_for_subject=[_subject_name(s, request.language) for s in searched],
                          how=how, found_in=found, blocker=blocker)


def answer_no_data(session: orm.Session, request: SubjectRequest, *, actor: StaffUser, note: str | None) -> Message:
    """Complete the case with the letter "we hold no data about you"; DecisionError when a system holds
    data or has not been searched (the message says which)."""
    evidence = no_data_evidence(session, request)
    if evidence is None:
        raise DecisionError(_("Only an access or portability request is answered with “we hold no data”."))
    if evidence.blocker:
        raise DecisionError(evidence.blocker)
    note = checked_text(note, "paragraph for the letter", required=False)
    states.apply(request, Action.ANSWER_NO_DATA)
    now = utcnow()
    request.answered_no_data_at = request.closed_at = now
    if request.decided_at is None:
        request.decided_at, request.decided_by_id = now, actor.id
    request.outcome_note = note or None
    bundles_deleted = _delete_unreleased_bundles(session, request)
    letter = send_subject_letter(
        session, request, NO_DATA_LETTER, author_id=actor.id, dedupe_key=f"no-data:{request.id}",
        systems=evidence.searched_for_subject, note=note,
        retention_days=int(current_app.config["CASE_RETENTION_DAYS"]))
    record_staff(session, "case.answered_no_data", actor, request, via=evidence.how,
                 systems=len(evidence.searched), bundles_deleted=bundles_deleted, message_id=letter.id)
    return letter


def _delete_unreleased_bundles(session: orm.Session, request: SubjectRequest) -> int:
    """A bundle assembled for review holds nothing about the subject: it is never released, and its file
    and the export's spool go once the answer is stored."""
    bundles = session.scalars(sa.select(ExportBundle).where(
        ExportBundle.request_id == request.id, ExportBundle.status == BundleStatus.READY_FOR_REVIEW,
        ExportBundle.deleted_at.is_(None))).all()
    names = [bundle.storage_name for bundle in bundles if bundle.storage_name]
    for bundle in bundles:
        bundle.deleted_at = utcnow()
    app = current_app._get_current_object()
    on_commit(session, lambda: [storage.delete_bundle(name, app) for name in names])
    on_commit(session, lambda: storage.remove_request_spool(request.id, app))
    return len(bundles)


def no_data_panel(session: orm.Session, request: SubjectRequest) -> NoDataEvidence | None:
    """The case page's "we hold no data" section: while the answer could be due and no system found anything."""
    if request.status not in _ANSWERABLE:
        return None
    evidence = no_data_evidence(session, request)
    if evidence is None or evidence.found_in:
        return None
    return evidence


register_panel(CasePanel(template="export/_no_data.html",
                         build=lambda session, case, masked: no_data_panel(session, case),
                         running=lambda evidence: False, actions=frozenset()))
