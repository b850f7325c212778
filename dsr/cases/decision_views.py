"""Staff decisions on a case: approve, and the ones with a form page of their own (refuse, ask the
subject, extend, complete, withdraw, message, reply, record identity). Routes on the case area's
blueprint (dsr.cases.pages); each validates, calls one service, commits, then redirects."""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dsr.auth import sessions
from dsr.auth.roles import staff_decider
from dsr.cases import conversation, decisions
from dsr.cases.decisions import DecisionError, FourEyesRequired
from dsr.cases.forms import (
    AskForm,
    ExtendForm,
    IdentityForm,
    OutcomeForm,
    RejectForm,
    ReplyForm,
    TextForm,
    extension_choices,
)
from dsr.cases.history import earlier_requests
from dsr.cases.opening import UnknownIdentityMethod, record_identity
from dsr.cases.pages import bp, case_or_404, controller, refusal_text, render_case, staff_case_view, to_case
from dsr.cases.states import IllegalTransition
from dsr.db import get_session
from dsr.deadlines.service import extension_options
from dsr.models import Right, SubjectRequest

_APPROVED = {
    "started": _l("Approved: the work in the connected systems has started (an erasure, correction or "
                  "restriction is planned first: nothing changes until you approve the plans)."),
    "manual": _l("Approved. No system does this automatically: carry it out, then mark the case as completed."),
    "proposed": _l("Your approval is recorded. Erasure needs a second officer to approve it too."),
}


@bp.post("/cases/<int:case_id>/approve")
@staff_decider
def approve(case_id: int):
    case = case_or_404(case_id)
    if case.right is Right.ERASURE and not sessions.is_fresh():
        return redirect(url_for("auth.reauthenticate", next=url_for("cases.detail", case_id=case.id)))
    session = get_session()
    four_eyes = bool(current_app.config["ERASURE_FOUR_EYES"])
    try:
        outcome = decisions.approve(session, case, actor=g.staff, four_eyes=four_eyes)
    except FourEyesRequired as exc:
        session.commit()  # the refused attempt stays in the audit log
        flash(str(exc), "error")
        return render_case(case, 403)
    except (IllegalTransition, DecisionError) as exc:
        session.rollback()
        return to_case(case, refusal_text(exc))
    session.commit()
    flash(str(_APPROVED[outcome]), "success")
    return redirect(url_for("cases.detail", case_id=case.id))


def _form_page(case_id: int, form, template: str, run: Callable, done: str, error_field: str, **extra):
    """A decision with its own form page: GET shows it (with `extra` for its template), POST validates and
    runs `run(case, form)`; `done` is flashed, formatted with the case and run's result. The fee pages
    (dsr.fees.views) use it too."""
    case = case_or_404(case_id)
    if form.validate_on_submit():
        session = get_session()
        try:
            result = run(case, form)
        except IllegalTransition as exc:
            session.rollback()
            return to_case(case, refusal_text(exc))
        except DecisionError as exc:
            session.rollback()
            getattr(form, error_field).errors.append(str(exc))
        else:
            session.commit()
            flash(done.format(case=case, result=result), "success")
            return redirect(url_for("cases.detail", case_id=case.id))
    return render_template(template, case=staff_case_view(case), form=form, **extra), 400 if form.errors else 200


@bp.route("/cases/<int:case_id>/reject", methods=["GET", "POST"])
@staff_decider
def reject(case_id: int):
    return _form_page(
        case_id,
        RejectForm(),
        "cases/reject.html",
        lambda case, form: decisions.reject(
            get_session(),
            case,
            actor=g.staff,
            code=form.reason.data,
            text=form.text.data,
            law=form.law.data,
            controller=controller(),
        ),
        _("The request is refused; the letter to the subject is on its way."),
        "text",
        earlier=earlier_requests(get_session(), case_or_404(case_id)),  # the evidence for Art. 12(5)
    )


@bp.route("/cases/<int:case_id>/ask", methods=["GET", "POST"])
@staff_decider
def ask(case_id: int):
    return _form_page(
        case_id,
        AskForm(),
        "cases/ask.html",
        lambda case, form: decisions.ask_subject(
            get_session(),
            case,
            actor=g.staff,
            text=form.text.data,
            about_identity=form.about_identity.data,
            controller=controller(),
        ),
        _("The question is on its way to the subject."),
        "text",
    )


@bp.route("/cases/<int:case_id>/extend", methods=["GET", "POST"])
@staff_decider
def extend(case_id: int):
    form = ExtendForm()
    options = extension_options(case_or_404(case_id), controller())
    form.months.choices = extension_choices(options)
    return _form_page(
        case_id,
        form,
        "cases/extend.html",
        lambda case, form: decisions.extend(
            get_session(), case, actor=g.staff, reason=form.reason.data, controller=controller(),
            months=form.months.data,
        ),
        _("Extended: the new deadline is {case.deadline_on}. The notice is on its way to the subject."),
        "reason",
    )


@bp.route("/cases/<int:case_id>/complete", methods=["GET", "POST"])
@staff_decider
def complete(case_id: int):
    return _form_page(
        case_id,
        OutcomeForm(),
        "cases/complete.html",
        lambda case, form: decisions.complete(
            get_session(), case, actor=g.staff, outcome=form.outcome.data, controller=controller()
        ),
        _("The case is completed; the outcome letter is on its way."),
        "outcome",
    )


@bp.route("/cases/<int:case_id>/withdraw", methods=["GET", "POST"])
@staff_decider
def withdraw(case_id: int):
    return _form_page(
        case_id,
        TextForm(),
        "cases/withdraw.html",
        lambda case, form: _withdraw(case, form.text.data),
        _("The case is closed as withdrawn; the subject gets a confirmation."),
        "text",
    )


def _withdraw(case: SubjectRequest, note: str):
    session = get_session()
    conversation.add_note(session, case, actor=g.staff, text=note)
    return decisions.close_withdrawn(session, case, actor=g.staff, controller=controller())


@bp.route("/cases/<int:case_id>/message", methods=["GET", "POST"])
@staff_decider
def message(case_id: int):
    return _form_page(
        case_id,
        TextForm(),
        "cases/message.html",
        lambda case, form: conversation.send_message(
            get_session(), case, actor=g.staff, text=form.text.data, controller=controller()
        ),
        _("The message is on its way to the subject."),
        "text",
    )


@bp.route("/cases/<int:case_id>/reply", methods=["GET", "POST"])
@staff_decider
def reply(case_id: int):
    return _form_page(
        case_id,
        ReplyForm(),
        "cases/reply.html",
        lambda case, form: conversation.record_reply(
            get_session(),
            case,
            actor=g.staff,
            text=form.text.data,
            channel=form.channel.data,
            controller=controller(),
        ),
        _("The subject's answer is recorded."),
        "text",
    )


@bp.route("/cases/<int:case_id>/identity", methods=["GET", "POST"])
@staff_decider
def identity(case_id: int):
    def run(case, form):
        try:
            return record_identity(get_session(), case, actor=g.staff, how=form.how.data)
        except UnknownIdentityMethod as exc:
            raise DecisionError(str(exc)) from None

    return _form_page(
        case_id,
        IdentityForm(),
        "cases/identity.html",
        run,
        _("Identity recorded: the case is open for a decision."),
        "how",
    )
