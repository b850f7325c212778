"""The staff page of a representative's authorisation (the case page links to it from "Filed by"): read
the file (audited), accept it, reject it with a reason (a letter to the representative), or attach one
that came by post or e-mail. Views validate, load or 404, call one service, commit, then redirect."""
from __future__ import annotations

from flask import Blueprint, Response, abort, g, render_template
from flask_babel import gettext as _

from dsr.auth.roles import staff_decider
from dsr.cases.decisions import DecisionError
from dsr.cases.pages import case_or_404, decide, staff_case_view, to_case
from dsr.db import get_session
from dsr.models import SubjectRequest
from dsr.representation import service
from dsr.representation.files import AuthorisationFileError, max_bytes, size_text
from dsr.representation.forms import (
    AUTHORISATION_STATE_LABELS,
    RELATIONSHIP_LABELS,
    AttachAuthorisationForm,
    RejectAuthorisationForm,
)
from dsr.representation.uploads import form_with_upload
from dsr.sitewide import csrf

bp = Blueprint("representation", __name__, url_prefix="/staff/cases/<int:case_id>/authorisation")


@bp.app_context_processor
def _representation_labels() -> dict:
    return {"relationship_labels": RELATIONSHIP_LABELS, "authorisation_states": AUTHORISATION_STATE_LABELS}


def _represented_case_or_404(case_id: int) -> SubjectRequest:
    case = case_or_404(case_id)
    if case.representative is None:
        abort(404)
    return case


def _page(case: SubjectRequest, status: int = 200, reject_form=None, attach_form=None):
    reject_form = reject_form or RejectAuthorisationForm(formdata=None)
    attach_form = attach_form or AttachAuthorisationForm(formdata=None)
    return render_template(
        "representation/authorisation.html", case=staff_case_view(case), representative=case.representative,
        reject_form=reject_form, attach_form=attach_form,
        form=attach_form if attach_form.errors else reject_form), status


@bp.get("")
@staff_decider
def page(case_id: int):
    return _page(_represented_case_or_404(case_id))


@bp.post("/download")
@staff_decider
def download(case_id: int):
    case = _represented_case_or_404(case_id)
    session = get_session()
    try:
        found = service.open_authorisation(session, case, actor=g.staff)
    except DecisionError as exc:
        session.rollback()
        return to_case(case, str(exc))
    session.commit()  # audited before a byte leaves
    response = Response(found.chunks, mimetype=found.content_type, direct_passthrough=True)
    response.headers.set("Content-Disposition", "attachment", filename=found.filename)
    response.headers["Cache-Control"] = "no-store"
    if found.size:
        response.content_length = found.size
    return response


@bp.post("/accept")
@staff_decider
def accept(case_id: int):
    case = _represented_case_or_404(case_id)
    return decide(case, lambda: service.accept_authorisation(get_session(), case, actor=g.staff),
                  _("Authorisation accepted: the subject's data can now be searched for this request."))


@bp.post("/reject")
@staff_decider
def reject(case_id: int):
    case = _represented_case_or_404(case_id)
    form = RejectAuthorisationForm()
    if not form.validate():
        return _page(case, 400, reject_form=form)
    return decide(case, lambda: service.reject_authorisation(get_session(), case, actor=g.staff,
                                                             reason=form.reason.data),
                  _("Authorisation rejected: the letter with your reason goes to the representative."))


@bp.post("/attach")
@staff_decider
@csrf.exempt  # checked by form_with_upload, once this page's upload limit is in force
def attach(case_id: int):
    case = _represented_case_or_404(case_id)
    form = form_with_upload(AttachAuthorisationForm)
    if form is None:
        form = AttachAuthorisationForm(formdata=None)
        form.file.errors = [_("The file is larger than %(size)s, the most you can upload.", size=size_text(max_bytes()))]
        return _page(case, 413, attach_form=form)
    if not form.validate():
        return _page(case, 400, attach_form=form)
    session = get_session()
    try:
        service.attach_authorisation(session, case, form.file.data, actor=g.staff)
    except (DecisionError, AuthorisationFileError) as exc:
        session.rollback()
        form.file.errors.append(str(exc))
        return _page(case, 400, attach_form=form)
    session.commit()
    return to_case(case, _("Authorisation attached: check it, then accept or reject it"), "success")

