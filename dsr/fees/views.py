"""Staff pages of a fee: charge one, record its payment, waive it. Each validates, loads or 404s, calls one
service, commits, then redirects to the case (the case area's decision pages do the same: `_form_page`);
the services audit."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from dsr.auth import sessions
from dsr.auth.roles import staff_decider
from dsr.cases.decision_views import _form_page
from dsr.cases.decisions import MAX_TEXT
from dsr.cases.forms import choices
from dsr.cases.pages import case_or_404, controller
from dsr.db import get_session
from dsr.fees import service
from dsr.forms import PortalForm
from dsr.models import CaseFee, Right, SubjectRequest

bp = Blueprint("fees", __name__, url_prefix="/staff/cases/<int:case_id>/fee")

_TEXT = Length(max=MAX_TEXT, message=_l("Write at most %(most)d characters.", most=MAX_TEXT))
_APPROVED = {
    "started": _l("The payment is recorded and the request is approved: the work in the connected systems has "
                  "started."),
    "manual": _l("The payment is recorded and the request is approved. No system does this automatically: carry "
                 "it out, then mark the case as completed."),
    "proposed": _l("The payment is recorded and your approval too. Erasure needs a second officer to approve it."),
}


class ChargeForm(PortalForm):
    ground = RadioField(_l("Ground for the fee"), validators=[DataRequired(_l("Choose the ground for the fee."))])
    amount = StringField(_l("Amount in Norwegian kroner (NOK)"), [DataRequired(_l("Write the amount.")),
                                                                  Length(max=20)])
    reason = TextAreaField(_l("Why a fee: written to the subject, in the case's language"),
                           [DataRequired(_l("Write the reason for the fee.")), _TEXT])
    instructions = TextAreaField(_l("How to pay: written to the subject, in the case's language"),
                                 [DataRequired(_l("Write how to pay.")), _TEXT])


class PaidForm(PortalForm):
    note = TextAreaField(_l("Note on the payment, e.g. when it arrived and its bank reference (internal, optional)"),
                         [_TEXT])


class WaiveForm(PortalForm):
    note = TextAreaField(_l("Why the fee is waived (internal note; the subject is told the request is handled "
                            "free)"), [DataRequired(_l("Write why the fee is waived.")), _TEXT])


def _fee_or_404(case_id: int, fee_id: int) -> tuple[SubjectRequest, CaseFee]:
    case = case_or_404(case_id)
    fee = get_session().get(CaseFee, fee_id)
    if fee is None or fee.request_id != case.id:
        abort(404)
    return case, fee


@bp.route("", methods=["GET", "POST"])
@staff_decider
def charge(case_id: int):
    evidence = service.fee_evidence(get_session(), case_or_404(case_id))
    form = ChargeForm()
    form.ground.choices = choices((ground.value, service.GROUND_LABELS[ground]) for ground in evidence.grounds)
    return _form_page(case_id, form, "fees/charge.html", lambda case, form: service.charge_fee(
        get_session(), case, actor=g.staff, ground=form.ground.data, amount=form.amount.data,
        reason=form.reason.data, instructions=form.instructions.data, controller=controller()),
        _("The fee letter is on its way; the request and its deadline wait for the payment."), "amount",
        evidence=evidence)


@bp.route("/<int:fee_id>/paid", methods=["GET", "POST"])
@staff_decider
def paid(case_id: int, fee_id: int):
    case, fee = _fee_or_404(case_id, fee_id)
    if case.right is Right.ERASURE and not sessions.is_fresh():  # recording it approves the erasure
        return redirect(url_for("auth.reauthenticate", next=url_for("fees.paid", case_id=case.id, fee_id=fee.id)))
    four_eyes = bool(current_app.config["ERASURE_FOUR_EYES"])
    return _form_page(case_id, PaidForm(), "fees/paid.html", lambda case, form: _APPROVED[service.record_payment(
        get_session(), case, fee, actor=g.staff, note=form.note.data, controller=controller(), four_eyes=four_eyes)],
        "{result}", "note", fee=fee, amount=fee.amount_text(str(get_locale())))


@bp.route("/<int:fee_id>/waive", methods=["GET", "POST"])
@staff_decider
def waive(case_id: int, fee_id: int):
    _case, fee = _fee_or_404(case_id, fee_id)
    return _form_page(case_id, WaiveForm(), "fees/waive.html", lambda case, form: service.waive_fee(
        get_session(), case, fee, actor=g.staff, note=form.note.data, controller=controller()),
        _("The fee is waived and the subject is told; the request is back for your decision."), "note",
        fee=fee, amount=fee.amount_text(str(get_locale())))
