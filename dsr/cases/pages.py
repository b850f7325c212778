"""The staff case area's blueprint and what its pages share: load a case or 404, today in the
controller's time zone, render the case page, run one decision and say how it went.

The case page shows panels other areas contribute (the export, the actions): an area registers a
`CasePanel` when imported, so this package never imports them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import orm
from wtforms import SelectChoice

from dsr.auth import sessions
from dsr.cases.decisions import DecisionError
from dsr.cases.forms import AssignForm, TextForm
from dsr.cases.labels import refused_transition
from dsr.cases.labels import register as register_label_filters
from dsr.cases.presenters import case_view, is_masked
from dsr.cases.states import IllegalTransition
from dsr.controller import Controller
from dsr.db import get_session, utcnow
from dsr.deadlines.rules import local_date
from dsr.models import StaffRole, StaffUser, SubjectRequest, TaskAction

bp = Blueprint("cases", __name__, url_prefix="/staff")
register_label_filters(bp)

#: the case page reloads itself this often while a panel says work is running
REFRESH_SECONDS = 5


@dataclass(frozen=True)
class CasePanel:
    """A section of the case page owned by another area. `build(session, case, masked)` returns the
    value its template gets as `panel.value` (None: not shown); `running(value)` asks the page to
    follow the work by reloading itself; `actions` are the task actions it shows (the generic task
    list leaves them out)."""

    template: str
    build: Callable[[orm.Session, SubjectRequest, bool], Any]
    running: Callable[[Any], bool]
    actions: frozenset[TaskAction]


@dataclass(frozen=True)
class ShownPanel:
    template: str
    value: Any


_PANELS: list[CasePanel] = []


def register_panel(panel: CasePanel) -> None:
    _PANELS.append(panel)


def controller() -> Controller:
    return current_app.extensions["dsr.controller"]


def today() -> date:
    return local_date(utcnow(), controller().timezone)


def case_or_404(case_id: int) -> SubjectRequest:
    case = get_session().get(SubjectRequest, case_id)
    if case is None:
        abort(404)
    return case


def deciders(session: orm.Session) -> list[StaffUser]:
    return list(session.scalars(
        sa.select(StaffUser)
        .where(StaffUser.active.is_(True), StaffUser.role.in_([StaffRole.ADMIN, StaffRole.OFFICER]))
        .order_by(StaffUser.display_name)))


def assignee_choices(session: orm.Session) -> list[SelectChoice]:
    return [SelectChoice("", _("Nobody"))] + [SelectChoice(str(s.id), s.display_name) for s in deciders(session)]


def staff_case_view(case: SubjectRequest, masked: bool = False):
    return case_view(get_session(), case, masked=masked, today=today(), controller=controller())


def render_case(case: SubjectRequest, status: int = 200, note_form: TextForm | None = None,
                assign_form: AssignForm | None = None):
    session = get_session()
    masked = is_masked(g.staff)
    view = case_view(session, case, masked=masked, today=today(), controller=controller())
    if assign_form is None:
        assign_form = AssignForm()
        assign_form.assignee.data = str(case.assignee_id or "")
    assign_form.assignee.choices = assignee_choices(session)
    panels, running, covered = [], False, set()
    for panel in _PANELS:
        value = panel.build(session, case, masked)
        if value is not None:
            panels.append(ShownPanel(panel.template, value))
            running = running or panel.running(value)
            covered |= panel.actions
    refreshing = running and request.method == "GET" and request.args.get("refresh") != "off"
    response = make_response(render_template(
        "cases/detail.html", case=view, note_form=note_form or TextForm(prefix="note"), assign_form=assign_form,
        can_decide=g.staff.role is not StaffRole.VIEWER, fresh=sessions.is_fresh(), panels=panels,
        panel_actions=covered, refreshing=refreshing, refresh_seconds=REFRESH_SECONDS), status)
    if refreshing:
        # Follows the work without script (axe flags <meta refresh>); stops once nothing runs.
        response.headers["Refresh"] = f"{REFRESH_SECONDS}; url={url_for('cases.detail', case_id=case.id)}"
    return response


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def to_case(case: SubjectRequest, message: str | None = None, category: str = "error"):
    """Back to the case page, with a flashed message written as a sentence."""
    if message:
        flash(sentence(message), category)
    return redirect(url_for("cases.detail", case_id=case.id))


def refusal_text(exc: IllegalTransition | DecisionError) -> str:
    """Why a decision was refused, in the staff member's language."""
    return refused_transition(exc) if isinstance(exc, IllegalTransition) else str(exc)


def decide(case: SubjectRequest, action: Callable[[], object], done: str):
    """Run one service call: commit and flash `done`, or roll back and flash why it was refused."""
    session = get_session()
    try:
        result = action()
    except (IllegalTransition, DecisionError) as exc:
        session.rollback()
        return to_case(case, refusal_text(exc))
    session.commit()
    flash(done.format(result=result), "success")
    return redirect(url_for("cases.detail", case_id=case.id))
