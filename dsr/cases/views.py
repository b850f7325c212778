"""The staff case area: queue, dashboard, register export, request registration, the case page and
the small actions on it (assign, note, retry a system, resend a message, end the subject's access). The decisions are in
decision_views; both register on the blueprint of dsr.cases.pages. Views validate, load or 404, call
one service, commit, then redirect."""

from __future__ import annotations

from flask import Response, abort, g, render_template, request
from flask_babel import gettext as _

from dsr.audit.service import record
from dsr.auth.roles import staff_decider, staff_reader
from dsr.cases import access, conversation, decisions, queue
from dsr.cases.dashboard import dashboard as dashboard_figures
from dsr.cases.forms import AssignForm, TextForm
from dsr.cases.pages import (
    assignee_choices,
    bp,
    case_or_404,
    controller,
    decide,
    deciders,
    render_case,
    to_case,
    today,
)
from dsr.cases.presenters import is_masked, mask_email, queue_rows
from dsr.complaint.kit import build_kit, kit_filename, kit_response, offers_complaint_kit, render_kit
from dsr.db import get_db, get_session, utcnow
from dsr.models import Message, RequestStatus, Right, SystemTask


def _filters() -> queue.QueueFilter:
    args = request.args
    right = args.get("right") if args.get("right") in {r.value for r in Right} else None
    status = args.get("status") if args.get("status") in {s.value for s in RequestStatus} else None
    assignee = args.get("assignee", "")
    if assignee == "me":
        assignee = str(g.staff.id)
    return queue.QueueFilter(
        right=Right(right) if right else None,
        status=RequestStatus(status) if status else None,
        assignee=assignee if assignee == "none" or assignee.isdigit() else None,
        overdue=args.get("overdue") == "1",
        search=args.get("q", "")[:254],
        reference_only=is_masked(g.staff),
    )


@bp.get("/", endpoint="queue")
@staff_reader
def queue_view():
    session = get_session()
    filters = _filters()
    page = queue.queue_page(
        session, filters, today=today(), after=queue.Cursor.decode(request.args.get("after"))
    )
    rows = queue_rows(
        session, page.rows, masked=is_masked(g.staff), today=today(), tz=controller().timezone
    )
    next_args = {k: v for k, v in request.args.items() if k != "after"}
    return render_template(
        "cases/queue.html",
        rows=rows,
        filters=filters,
        page=page,
        next_args=next_args,
        staff=deciders(session),
        statuses=list(RequestStatus),
        rights=list(Right),
    )


@bp.get("/dashboard")
@staff_reader
def dashboard():
    return render_template("cases/dashboard.html", figures=dashboard_figures(get_session(), today()))


@bp.post("/register.csv")
@staff_reader
def export_register():
    session = get_session()
    record(session, "register.exported", actor_type="staff", actor_id=g.staff.id, masked=is_masked(g.staff))
    session.commit()
    mask = mask_email if is_masked(g.staff) else (lambda email: email)
    filename = f"register-{today().isoformat()}.csv"
    return Response(
        queue.register_csv(get_db().sessionmaker, mask=mask),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/cases/<int:case_id>")
@staff_reader
def detail(case_id: int):
    return render_case(case_or_404(case_id))


@bp.post("/cases/<int:case_id>/assign")
@staff_decider
def assign(case_id: int):
    case = case_or_404(case_id)
    form = AssignForm()
    form.assignee.choices = assignee_choices(get_session())
    if not form.validate_on_submit():
        return render_case(case, 400, assign_form=form)
    assignee = int(form.assignee.data) if form.assignee.data else None
    return decide(
        case,
        lambda: decisions.assign(get_session(), case, actor=g.staff, assignee_id=assignee),
        _("Assignee saved."),
    )


@bp.post("/cases/<int:case_id>/notes")
@staff_decider
def add_note(case_id: int):
    case = case_or_404(case_id)
    form = TextForm(prefix="note")
    if not form.validate_on_submit():
        return render_case(case, 400, note_form=form)
    return decide(
        case,
        lambda: conversation.add_note(get_session(), case, actor=g.staff, text=form.text.data),
        _("Note added."),
    )


@bp.post("/cases/<int:case_id>/tasks/<int:task_id>/retry")
@staff_decider
def retry_task(case_id: int, task_id: int):
    case = case_or_404(case_id)
    task = get_session().get(SystemTask, task_id)
    if task is None or task.request_id != case.id:
        abort(404)

    def run():
        said = decisions.retry_system(get_session(), case, task, actor=g.staff)
        return f" {said}" if said else ""

    return decide(case, run, _("%(system)s: started again.", system=task.system_key) + "{result}")


@bp.post("/cases/<int:case_id>/messages/<int:message_id>/resend")
@staff_decider
def resend_message(case_id: int, message_id: int):
    case = case_or_404(case_id)
    sent = get_session().get(Message, message_id)
    if sent is None or sent.request_id != case.id:
        abort(404)
    return decide(
        case,
        lambda: conversation.resend(get_session(), case, sent, actor=g.staff),
        _("The message will be sent again."),
    )


@bp.post("/cases/<int:case_id>/subject-access/end")
@staff_decider
def end_subject_access(case_id: int):
    case = case_or_404(case_id)
    return decide(
        case,
        lambda: access.end_subject_access(get_session(), case, actor=g.staff),
        _("The subject's access to the case page has ended in {result} browser(s)."),
    )


@bp.post("/cases/<int:case_id>/correspondence")
@staff_decider
def correspondence(case_id: int):
    """The same file the subject's page offers (the complaint kit), for staff to send or keep."""
    case = case_or_404(case_id)
    if not offers_complaint_kit(case):
        return to_case(case, _("the correspondence is offered as one file once the case is answered or refused"))
    session = get_session()
    page = render_kit(build_kit(session, case, controller(), utcnow()))
    record(session, "case.correspondence_downloaded", actor_type="staff", actor_id=g.staff.id, request_id=case.id)
    session.commit()
    return kit_response(page, kit_filename(case))
