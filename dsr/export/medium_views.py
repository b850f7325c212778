"""The staff page that records a bundle handed over on a medium (a subject answered by post): what,
how, to whom, when. A fresh login is needed, as for any release of personal data (S13)."""
from __future__ import annotations

from flask import g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from dsr.auth.roles import staff_decider
from dsr.cases.pages import case_or_404, staff_case_view, to_case, today
from dsr.cases.states import IllegalTransition
from dsr.db import get_session
from dsr.export.medium import HandoverRecord, release_on_medium
from dsr.export.pages import STAFF_CASE, bp
from dsr.export.release import ReleaseRefused
from dsr.export.staff_views import reviewed_bundle
from dsr.forms import PortalForm
from dsr.models import Handover, HandoverMedium

MEDIUM_LABELS = {
    HandoverMedium.USB_STICK: _l("USB stick"),
    HandoverMedium.PRINTED_COPY: _l("Printed copy"),
    HandoverMedium.DISC: _l("CD or DVD"),
}
HANDOVER_LABELS = {
    Handover.IN_PERSON: _l("Collected in person at our office"),
    Handover.BY_POST: _l("Sent by post"),
}


@bp.app_context_processor
def _handover_labels() -> dict:
    return {"medium_labels": MEDIUM_LABELS, "handover_labels": HANDOVER_LABELS}


class HandoverForm(PortalForm):
    medium = RadioField(_l("What was the bundle put on?"),
                        choices=[SelectChoice(k.value, v) for k, v in MEDIUM_LABELS.items()],
                        validators=[DataRequired(_l("Choose what the bundle was put on."))])
    handover = RadioField(_l("How did it reach the person?"),
                          choices=[SelectChoice(k.value, v) for k, v in HANDOVER_LABELS.items()],
                          validators=[DataRequired(_l("Choose how it reached the person."))])
    handed_to = StringField(_l("Handed or sent to (name)"),
                            [DataRequired(_l("Write to whom it was handed over.")), Length(max=200)])
    handed_over_on = DateField(_l("Day of the hand-over"),
                               [InputRequired(_l("Enter the day of the hand-over, like 2026-03-10."))])
    confirm = BooleanField(_l("The medium holds the bundle I downloaded from this case, and nothing else"),
                           [DataRequired(_l("Tick the box to confirm what the medium holds."))])


@bp.route(f"{STAFF_CASE}/bundle/hand-over", methods=["GET", "POST"])
@staff_decider
def hand_over(case_id: int):
    case = case_or_404(case_id)
    session = get_session()
    panel, elsewhere = reviewed_bundle(case, "export.hand_over", _("hand over"))
    if elsewhere is not None:
        return elsewhere
    form = HandoverForm()
    if not form.is_submitted():
        form.handed_to.data = case.contact_name or ""
        form.handed_over_on.data = today()
    if form.validate_on_submit():
        handed = HandoverRecord(medium=HandoverMedium(form.medium.data), handover=Handover(form.handover.data),
                                handed_to=form.handed_to.data, handed_over_on=form.handed_over_on.data)
        try:
            release_on_medium(session, case.id, g.staff.id, handed, today=today())
        except (ReleaseRefused, IllegalTransition) as exc:
            session.rollback()
            form.handed_over_on.errors.append(str(exc)[:1].upper() + str(exc)[1:] + ".")
        else:
            session.commit()
            return to_case(case, _("Recorded: the bundle was handed over and the case is completed; print and "
                                   "post the letter that says so"), "success")
    status = 400 if form.errors else 200
    return render_template("export/hand_over.html", case=staff_case_view(case), export=panel, form=form), status
