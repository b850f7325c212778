"""The staff case area: queue, dashboard, register export, request registration, the case page and
the small actions on it (assign, note, retry a system, resend a message); the decisions are in
decision_views. Views validate, load or 404, call one service, commit, then redirect."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
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
from wtforms import SelectChoice

from dsr.audit.service import record
from dsr.auth import sessions
from dsr.auth.roles import staff_decider, staff_reader
from dsr.cases import conversation, decisions, queue, registration
from dsr.cases.dashboard import dashboard as dashboard_figures
from dsr.cases.decisions import DecisionError
from dsr.cases.export_review import REFRESH_SECONDS, export_panel
from dsr.cases.forms import (
    AssignForm,
    RegisterForm,
    TextForm,
)
from dsr.cases.presenters import case_view, is_masked, mask_email, queue_rows
from dsr.cases.states import IllegalTransition
from dsr.db import get_db, get_session, utcnow
from dsr.deadlines.rules import local_date
from dsr.models import (
    Channel,
    Message,
    RequestStatus,
    Right,
    StaffRole,
    StaffUser,
    SubjectRequest,
    SystemTask,
)

bp = Blueprint("cases", __name__, url_prefix="/staff")


def _controller():
    return current_app.extensions["dsr.controller"]


def _today():
    return local_date(utcnow(), _controller().timezone)


def _case_or_404(case_id: int) -> SubjectRequest:
    case = get_session().get(SubjectRequest, case_id)
    if case is None:
        abort(404)
    return case


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


def _deciders(session) -> list[StaffUser]:
    return list(
        session.scalars(
            sa.select(StaffUser)
            .where(StaffUser.active.is_(True), StaffUser.role.in_([StaffRole.ADMIN, StaffRole.OFFICER]))
            .order_by(StaffUser.display_name)
        )
    )


def _assignee_choices(session) -> list[SelectChoice]:
    return [SelectChoice("", "Nobody")] + [
        SelectChoice(str(s.id), s.display_name) for s in _deciders(session)
    ]


@bp.get("/", endpoint="queue")
@staff_reader
def queue_view():
    session = get_session()
    filters = _filters()
    page = queue.queue_page(
        session, filters, today=_today(), after=queue.Cursor.decode(request.args.get("after"))
    )
    rows = queue_rows(
        session, page.rows, masked=is_masked(g.staff), today=_today(), tz=_controller().timezone
    )
    next_args = {k: v for k, v in request.args.items() if k != "after"}
    return render_template(
        "cases/queue.html",
        rows=rows,
        filters=filters,
        page=page,
        next_args=next_args,
        staff=_deciders(session),
        statuses=list(RequestStatus),
        rights=list(Right),
    )


@bp.get("/dashboard")
@staff_reader
def dashboard():
    return render_template("cases/dashboard.html", figures=dashboard_figures(get_session(), _today()))


@bp.post("/register.csv")
@staff_reader
def export_register():
    session = get_session()
    record(session, "register.exported", actor_type="staff", actor_id=g.staff.id, masked=is_masked(g.staff))
    session.commit()
    mask = mask_email if is_masked(g.staff) else (lambda email: email)
    filename = f"register-{_today().isoformat()}.csv"
    return Response(
        queue.register_csv(get_db().sessionmaker, mask=mask),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/register", methods=["GET", "POST"])
@staff_decider
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        session = get_session()
        controller = _controller()
        try:
            received_at = registration.receipt_instant(
                form.received_date.data, form.received_time.data, controller.timezone
            )
            data = registration.Registration(
                right=Right(form.right.data),
                channel=Channel(form.channel.data),
                received_at=received_at,
                email=form.email.data,
                language=form.language.data,
                phone=form.phone.data,
                full_name=form.full_name.data,
                details={"request": form.details.data.strip()} if form.details.data.strip() else {},
            )
            identity = None if form.identity.data == "not_yet" else form.identity.data
            case = registration.register_request(
                session, data, actor=g.staff, controller=controller, identity_method=identity
            )
        except registration.RegistrationError as exc:
            session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            session.commit()
            flash(f"Request {case.reference} registered; its deadline is {case.deadline_on}.", "success")
            return redirect(url_for("cases.detail", case_id=case.id))
    return render_template("cases/register.html", form=form), 400 if form.errors else 200


# --- the case page -----------------------------------------------------------------------------------


def _render_case(
    case: SubjectRequest,
    status: int = 200,
    note_form: TextForm | None = None,
    assign_form: AssignForm | None = None,
):
    session = get_session()
    view = case_view(session, case, masked=is_masked(g.staff), today=_today(), controller=_controller())
    if assign_form is None:
        assign_form = AssignForm()
        assign_form.assignee.data = str(case.assignee_id or "")
    assign_form.assignee.choices = _assignee_choices(session)
    export = export_panel(session, case, masked=is_masked(g.staff))
    refreshing = (export is not None and export.running and request.method == "GET"
                  and request.args.get("refresh") != "off")
    response = make_response(render_template(
        "cases/detail.html",
        case=view,
        note_form=note_form or TextForm(prefix="note"),
        assign_form=assign_form,
        can_decide=g.staff.role is not StaffRole.VIEWER,
        fresh=sessions.is_fresh(),
        export=export,
        refreshing=refreshing,
        refresh_seconds=REFRESH_SECONDS,
    ), status)
    if refreshing:
        # Follows the export without script (axe flags <meta refresh>); stops once nothing runs.
        response.headers["Refresh"] = f"{REFRESH_SECONDS}; url={url_for('cases.detail', case_id=case.id)}"
    return response


@bp.get("/cases/<int:case_id>")
@staff_reader
def detail(case_id: int):
    return _render_case(_case_or_404(case_id))


def _decide(case: SubjectRequest, action: Callable[[], object], done: str):
    """Run one service call: commit and flash `done`, or roll back and flash why it was refused."""
    session = get_session()
    try:
        result = action()
    except (IllegalTransition, DecisionError) as exc:
        session.rollback()
        flash(_sentence(str(exc)), "error")
        return redirect(url_for("cases.detail", case_id=case.id))
    session.commit()
    flash(done.format(result=result), "success")
    return redirect(url_for("cases.detail", case_id=case.id))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@bp.post("/cases/<int:case_id>/assign")
@staff_decider
def assign(case_id: int):
    case = _case_or_404(case_id)
    form = AssignForm()
    form.assignee.choices = _assignee_choices(get_session())
    if not form.validate_on_submit():
        return _render_case(case, 400, assign_form=form)
    assignee = int(form.assignee.data) if form.assignee.data else None
    return _decide(
        case,
        lambda: decisions.assign(get_session(), case, actor=g.staff, assignee_id=assignee),
        "Assignee saved.",
    )


@bp.post("/cases/<int:case_id>/notes")
@staff_decider
def add_note(case_id: int):
    case = _case_or_404(case_id)
    form = TextForm(prefix="note")
    if not form.validate_on_submit():
        return _render_case(case, 400, note_form=form)
    return _decide(
        case,
        lambda: conversation.add_note(get_session(), case, actor=g.staff, text=form.text.data),
        "Note added.",
    )


@bp.post("/cases/<int:case_id>/tasks/<int:task_id>/retry")
@staff_decider
def retry_task(case_id: int, task_id: int):
    case = _case_or_404(case_id)
    task = get_session().get(SystemTask, task_id)
    if task is None or task.request_id != case.id:
        abort(404)

    def run():
        discarded = decisions.retry_system(get_session(), case, task, actor=g.staff)
        return " The partial bundle was discarded: a full one is assembled when it is done." if discarded else ""

    return _decide(case, run, f"{task.system_key}: started again.{{result}}")


@bp.post("/cases/<int:case_id>/messages/<int:message_id>/resend")
@staff_decider
def resend_message(case_id: int, message_id: int):
    case = _case_or_404(case_id)
    sent = get_session().get(Message, message_id)
    if sent is None or sent.request_id != case.id:
        abort(404)
    return _decide(
        case,
        lambda: conversation.resend(get_session(), case, sent, actor=g.staff),
        "The message will be sent again.",
    )


# The decisions live in their own module (this one's size); importing it registers them on `bp`.
from dsr.cases import decision_views  # noqa: F401 (the import registers the decision routes on bp)
