"""Staff pages of the actions: approve the plans (with a rectification's corrected values and a paragraph
for the outcome letter), confirm what was done by hand, confirm an Art. 19 notice given by other means,
lift a restriction (the subject is told first), record the balancing of an objection. Each validates,
loads or 404s, calls one service, commits, then redirects."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import RadioField, TextAreaField
from wtforms.validators import DataRequired, Length

from dsr.actions.approval import ApprovalError, approve_plans, confirm_by_hand, plans_waiting
from dsr.actions.completion import complete_if_done
from dsr.actions.kinds import ACTIONS
from dsr.actions.objection import OUTCOMES, ObjectionError, decide_objection
from dsr.actions.panel import actions_panel
from dsr.actions.recipients import NoticeError, confirm_notice
from dsr.actions.restriction import LiftError, request_lift
from dsr.auth import sessions
from dsr.auth.roles import staff_decider
from dsr.cases.forms import choices
from dsr.cases.pages import case_or_404, staff_case_view, to_case
from dsr.db import get_session
from dsr.forms import PortalForm
from dsr.models import RecipientNotice, SystemTask, TaskAction

bp = Blueprint("actions", __name__, url_prefix="/staff/cases/<int:case_id>/actions")

_VALUE_FIELD = re.compile(r"^value-(\d+)-([A-Za-z0-9_]{1,63})-([A-Za-z0-9_]{1,63})$")


class ApproveForm(PortalForm):
    note = TextAreaField(_l("A paragraph for the outcome letter (optional)"), [Length(max=2000)])
    statement = TextAreaField(_l("Supplementary statement (optional; Art. 16: when the data is incomplete rather "
                                 "than wrong)"), [Length(max=2000)])


class DoneForm(PortalForm):
    note = TextAreaField(_l("What you did (and what you kept, and why)"), [DataRequired(_l("Say what you did.")),
                                                                            Length(max=2000)])


class LiftForm(PortalForm):
    reason = TextAreaField(_l("Why the restriction ends (the subject is told before it is lifted)"),
                           [DataRequired(_l("Say why the restriction ends.")), Length(max=2000)])


class ObjectionForm(PortalForm):
    outcome = RadioField(_l("Outcome"), choices=choices([
        ("upheld", _l("Upheld: our grounds do not override the subject's; the data is erased")),
        ("rejected", _l("Rejected: compelling legitimate grounds override the subject's (Art. 21(1))"))]),
        validators=[DataRequired(_l("Choose the outcome."))])
    grounds = TextAreaField(_l("The grounds weighed (given to the subject in the letter)"),
                            [DataRequired(_l("Write the grounds weighed.")), Length(max=4000)])


def _page(template: str, case, form, status: int = 200, **extra):
    panel = actions_panel(get_session(), case, masked=False)
    return render_template(template, case=staff_case_view(case), form=form, panel=panel, **extra), status


@bp.route("/approve", methods=["GET", "POST"])
@staff_decider
def approve(case_id: int):
    case = case_or_404(case_id)
    session = get_session()
    waiting = plans_waiting(session, case)
    if not waiting:
        return to_case(case, _("No plan is waiting for approval"))
    erasing = any(task.action is TaskAction.ERASE for task in waiting)
    if erasing and not sessions.is_fresh():  # S13: an erasure needs a recent password + code proof
        return redirect(url_for("auth.reauthenticate", next=url_for("actions.approve", case_id=case.id)))
    form = ApproveForm()
    if form.validate_on_submit():
        try:
            outcome = approve_plans(session, case, actor=g.staff, values=_posted_values(),
                                    note=form.note.data or "", four_eyes=bool(current_app.config["ERASURE_FOUR_EYES"]),
                                    statement=form.statement.data or "")
        except ApprovalError as exc:
            session.commit()  # a refused four-eyes attempt stays in the audit log
            form.note.errors.append(str(exc)[:1].upper() + str(exc)[1:] + ".")
            return _page("actions/approve.html", case, form, 400, rectify=_rectify_defaults(case, waiting))
        session.commit()
        if outcome == "proposed":
            return to_case(case, _("Your approval is recorded; an erasure needs a second officer to approve the "
                                   "plans"), "success")
        return to_case(case, _("Approved: the plans are being carried out and checked"), "success")
    return _page("actions/approve.html", case, form, 400 if form.errors else 200,
                 rectify=_rectify_defaults(case, waiting))


def _posted_values() -> dict[int, dict[str, dict[str, str]]]:
    values: dict[int, dict[str, dict[str, str]]] = {}
    for name, value in request.form.items():
        match = _VALUE_FIELD.match(name)
        if match:
            values.setdefault(int(match[1]), {}).setdefault(match[2], {})[match[3]] = value
    return values


def _rectify_defaults(case, waiting: list[SystemTask]) -> dict[int, dict[str, dict[str, str]]]:
    """A proposal for each rectifiable field: what the subject said it should be, when it plainly is a
    phone number or an e-mail address and the field is one of those (the officer edits or clears it)."""
    correct = ((case.details or {}).get("correct") or "").strip()
    kind = "email" if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", correct) else \
        "phone" if re.fullmatch(r"\+?[\d ()-]{6,20}", correct) else None
    proposals: dict[int, dict[str, dict[str, str]]] = {}
    for task in waiting:
        if task.action is not TaskAction.RECTIFY:
            continue
        for collection, fields in ((task.result or {}).get("rectifiable") or {}).items():
            for name in fields:
                guess = correct if kind and kind in name.lower() else ""
                proposals.setdefault(task.id, {}).setdefault(collection, {})[name] = guess
    return proposals


@bp.route("/tasks/<int:task_id>/done", methods=["GET", "POST"])
@staff_decider
def done_by_hand(case_id: int, task_id: int):
    case = case_or_404(case_id)
    session = get_session()
    task = session.get(SystemTask, task_id)
    if task is None or task.request_id != case.id or task.action not in ACTIONS:
        abort(404)
    form = DoneForm()
    if form.validate_on_submit():
        try:
            confirm_by_hand(session, case, task, actor=g.staff, note=form.note.data)
        except ApprovalError as exc:
            session.rollback()
            return to_case(case, str(exc))
        session.commit()
        return to_case(case, _("%(system)s: recorded as done by hand", system=task.system_key), "success")
    return _page("actions/done.html", case, form, 400 if form.errors else 200, task=task)


@bp.post("/notices/<int:notice_id>/done")
@staff_decider
def notice_done(case_id: int, notice_id: int):
    case = case_or_404(case_id)
    session = get_session()
    notice = session.get(RecipientNotice, notice_id)
    if notice is None or notice.request_id != case.id:
        abort(404)
    try:
        confirm_notice(session, notice, g.staff)
        complete_if_done(session, case)
    except NoticeError as exc:
        session.rollback()
        return to_case(case, str(exc))
    session.commit()
    flash(_("Recorded that %(recipient)s was told.", recipient=notice.recipient), "success")
    return redirect(url_for("cases.detail", case_id=case.id))


@bp.route("/lift", methods=["GET", "POST"])
@staff_decider
def lift(case_id: int):
    case = case_or_404(case_id)
    form = LiftForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            request_lift(session, case, actor=g.staff, reason=form.reason.data)
        except LiftError as exc:
            session.rollback()
            return to_case(case, str(exc))
        session.commit()
        return to_case(case, _("The subject is being told; the restriction is lifted in every system once the "
                               "notice was delivered"), "success")
    return _page("actions/lift.html", case, form, 400 if form.errors else 200)


@bp.route("/objection", methods=["GET", "POST"])
@staff_decider
def objection(case_id: int):
    case = case_or_404(case_id)
    form = ObjectionForm()
    if form.validate_on_submit() and form.outcome.data in OUTCOMES:
        session = get_session()
        try:
            decide_objection(session, case, actor=g.staff, grounds=form.grounds.data, outcome=form.outcome.data)
        except ObjectionError as exc:
            session.rollback()
            form.grounds.errors.append(str(exc)[:1].upper() + str(exc)[1:] + ".")
            return _page("actions/objection.html", case, form, 400)
        session.commit()
        done = _("The balancing is recorded: the erasure's plans are being made") \
            if form.outcome.data == "upheld" else _("The balancing is recorded")
        return to_case(case, done, "success")
    return _page("actions/objection.html", case, form, 400 if form.errors else 200)
