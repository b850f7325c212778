"""Staff pages for the bundle under review, besides its release (dsr.export.staff_views): leave other
people's data out (Art. 15(4)) or take that back, answer a repeat access request with the changes since
the last answer, and send a portability bundle to the receiving controller (Art. 20(2)).

Views validate, load or 404, call one service, commit, then redirect; the services audit.
"""
from __future__ import annotations

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from dsr.auth import sessions
from dsr.auth.roles import staff_decider
from dsr.bundle import spool
from dsr.cases.pages import case_or_404, staff_case_view, to_case
from dsr.cases.states import IllegalTransition
from dsr.db import get_session
from dsr.export import storage
from dsr.export.assembly import PartialNotAllowed
from dsr.export.pages import STAFF_CASE, bp
from dsr.export.redaction import RedactionRefused, find_target
from dsr.export.review import receiving_service
from dsr.export.review_actions import AnswerRefused, add_redaction, choose_answer, remove_redaction
from dsr.export.transmission import TransmissionRefused, send_to_receiver
from dsr.forms import PortalForm

PREVIEW_ROWS = 20


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RedactForm(PortalForm):
    fields = MultiCheckboxField(_l("Fields to remove from every record"), choices=[], validate_choice=False)
    rows = TextAreaField(_l("Records to remove"))
    reason = TextAreaField(_l("Why (shown to the subject in the bundle)"))


class SendForm(PortalForm):
    name = StringField(_l("Receiver"))
    email = StringField(_l("The receiver's e-mail address"))


@bp.route(f"{STAFF_CASE}/bundle/redact/<system_key>/<slug>", methods=["GET", "POST"])
@staff_decider
def redact(case_id: int, system_key: str, slug: str):
    case = case_or_404(case_id)
    session = get_session()
    target = find_target(session, case, system_key, slug)
    if target is None:
        abort(404)
    form = RedactForm()
    form.fields.choices = [(name, name) for name in target.fields]
    status = 200
    if form.validate_on_submit():
        try:
            add_redaction(session, case.id, g.staff.id, system_key=system_key, slug=slug,
                          fields=form.fields.data or [], rows_text=form.rows.data or "", reason=form.reason.data or "")
        except (RedactionRefused, PartialNotAllowed, IllegalTransition) as exc:
            session.rollback()
            getattr(form, getattr(exc, "field", "reason")).errors.append(str(exc))
            status = 400
        else:
            session.commit()
            return to_case(case, _("Left out of the bundle: it is being assembled again; review it before release"),
                           "success")
    preview = []
    if target.collection is not None:
        preview = spool.first_rows(storage.get_store(), target.spool_dir, target.collection, storage.opening_keys(),
                                   PREVIEW_ROWS)
    return render_template("export/redact.html", case=staff_case_view(case), target=target, form=form,
                           preview=preview), status


@bp.post(f"{STAFF_CASE}/bundle/redactions/<int:redaction_id>/remove")
@staff_decider
def unredact(case_id: int, redaction_id: int):
    case = case_or_404(case_id)
    session = get_session()
    try:
        remove_redaction(session, case.id, redaction_id, g.staff.id)
    except (RedactionRefused, PartialNotAllowed, IllegalTransition) as exc:
        session.rollback()
        return to_case(case, str(exc))
    session.commit()
    return to_case(case, _("The redaction was taken back: the bundle is being assembled again"), "success")


@bp.post(f"{STAFF_CASE}/bundle/answer")
@staff_decider
def answer(case_id: int):
    case = case_or_404(case_id)
    session = get_session()
    delta = request.form.get("scope") == "delta"
    try:
        choose_answer(session, case.id, g.staff.id, delta=delta)
    except (AnswerRefused, PartialNotAllowed, IllegalTransition) as exc:
        session.rollback()
        return to_case(case, str(exc))
    session.commit()
    done = _("The bundle is being assembled with only the changes since the last answer") if delta \
        else _("The bundle is being assembled in full")
    return to_case(case, done, "success")


@bp.route(f"{STAFF_CASE}/bundle/send", methods=["GET", "POST"])
@staff_decider
def send(case_id: int):
    case = case_or_404(case_id)
    named = receiving_service(case)
    if named is None:
        return to_case(case, _("The subject named no receiving service"))
    if not sessions.is_fresh():  # S13: sending personal data out needs a recent password + code proof
        return redirect(url_for("auth.reauthenticate", next=url_for("export.send", case_id=case.id)))
    session = get_session()
    form = SendForm()
    if request.method == "GET":
        form.name.data = named
    status = 200
    if form.validate_on_submit():
        try:
            send_to_receiver(session, case.id, g.staff.id, name=form.name.data or "", email=form.email.data or "")
        except (TransmissionRefused, IllegalTransition) as exc:
            session.rollback()
            getattr(form, getattr(exc, "field", "email")).errors.append(str(exc))
            status = 400
        else:
            session.commit()
            return to_case(case, _("Sent: the receiver gets a link and must confirm its address with a code; the "
                                   "subject has been told"), "success")
    return render_template("export/send.html", case=staff_case_view(case), form=form, named=named), status
