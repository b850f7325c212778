"""The staff page that answers an access or portability case with "we hold no data about you" (the
systems searched, an optional paragraph for the letter). It validates, calls one service, commits and
redirects, as the case area's decision pages do (`_form_page`); the service audits."""
from __future__ import annotations

from flask import abort, g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField
from wtforms.validators import Length

from dsr.auth.roles import staff_decider
from dsr.cases.decision_views import _form_page
from dsr.cases.decisions import MAX_TEXT
from dsr.cases.pages import case_or_404
from dsr.db import get_session
from dsr.export.no_data import answer_no_data, no_data_evidence
from dsr.export.pages import STAFF_CASE, bp
from dsr.forms import PortalForm


class NoDataForm(PortalForm):
    note = TextAreaField(_l("A paragraph for the letter (optional; in the case's language)"),
                         [Length(max=MAX_TEXT, message=_l("Write at most %(most)d characters.", most=MAX_TEXT))])


@bp.route(f"{STAFF_CASE}/no-data", methods=["GET", "POST"])
@staff_decider
def no_data(case_id: int):
    evidence = no_data_evidence(get_session(), case_or_404(case_id))
    if evidence is None:
        abort(404)
    return _form_page(case_id, NoDataForm(), "export/no_data.html", lambda case, form: answer_no_data(
        get_session(), case, actor=g.staff, note=form.note.data),
        _("The case is answered: the letter saying we hold no data about the subject is on its way."), "note",
        evidence=evidence)
