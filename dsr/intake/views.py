"""Public pages: the start page, choosing a right, the right's form, check your answers, received.

The answers travel from the form to check-your-answers as hidden fields (nothing is stored
before the subject presses "Send"), and are checked again on sending. Sending answers with a
redirect that is the same for every address (Post/Redirect/Get): whether any system knows the
address is only looked up later, in a job. The check page carries an idempotency key derived from
the answers and the browser, so Send, Back, reload, Send finds the first request instead of
filing a second one.
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, ngettext
from sqlalchemy import orm

from dsr.auth.policy import public
from dsr.db import get_session, reads_only
from dsr.deadlines.service import deadlines_for
from dsr.forms import CodeForm
from dsr.identity.code_pages import client_ip, first_refusal
from dsr.identity.subject_access import browser_binding
from dsr.intake.details import questions_for
from dsr.intake.forms import (
    FOR_SOMEONE_ELSE,
    AuthorisationForm,
    ChooseRightForm,
    RepresentedRequestForm,
    SendForm,
    represented_form_class,
    request_form_class,
)
from dsr.intake.service import InvalidRequest, filed_public_id, intake_key_for, submit_request
from dsr.models import Relationship, Right, SubjectRequest
from dsr.models.enums import STEP_UP_RIGHTS
from dsr.representation.files import AuthorisationFileError, max_bytes, size_text
from dsr.representation.service import RepresentativeDetails
from dsr.representation.uploads import form_with_upload
from dsr.sitewide import csrf

bp = Blueprint("intake", __name__)

FILED_KEY = "dsr_filed"  # the public id of the request this browser filed last (for the received page)
RIGHT_SLUGS = {right: right.value.replace("_", "-") for right in Right}
_BY_SLUG = {slug: right for right, slug in RIGHT_SLUGS.items()}


def right_from_slug(slug: str) -> Right:
    right = _BY_SLUG.get(slug)
    if right is None:
        abort(404)
    return right


@bp.app_context_processor
def _intake_globals() -> dict:
    return {"right_slugs": RIGHT_SLUGS, "step_up_rights": STEP_UP_RIGHTS,
            "authorisation_limit": size_text(max_bytes())}


@bp.get("/")
@public
def index():
    return render_template("intake/index.html", rights=list(Right))


@bp.route("/request", methods=["GET", "POST"])
@public
def choose():
    form = ChooseRightForm()
    if request.method == "POST":
        if form.validate():
            endpoint = "intake.form_for_someone_else" if form.for_whom.data == FOR_SOMEONE_ELSE else "intake.form"
            return redirect(url_for(endpoint, right_slug=RIGHT_SLUGS[Right(form.right.data)]), code=303)
        return render_template("intake/choose.html", form=form), 400
    return render_template("intake/choose.html", form=form)


@bp.route("/request/<right_slug>", methods=["GET", "POST"])
@public
def form(right_slug: str):
    right = right_from_slug(right_slug)
    return _form_or_check(request_form_class(right)(), right)


@bp.route("/request/<right_slug>/for-someone-else", methods=["GET", "POST"])
@public
def form_for_someone_else(right_slug: str):
    right = right_from_slug(right_slug)
    return _form_or_check(represented_form_class(right)(), right, represented=True)


def _form_or_check(form, right: Right, *, represented: bool = False):
    if request.method == "POST" and "change" not in request.form:
        if form.validate():
            return _check_page(form, right, represented=represented)
        return _form_page(form, right, 400)
    return _form_page(form, right, focus=request.form.get("change"))


def _form_page(form, right: Right, status: int = 200, focus: str | None = None):
    represented = isinstance(form, RepresentedRequestForm)
    return render_template("intake/form.html", form=form, right=right, questions=questions_for(right),
                           focus=focus, represented=represented), status


def _check_page(form, right: Right, status: int = 200, *, represented: bool = False, upload_form=None, **extra):
    """Check your answers, with the answers as hidden fields and this browser's key for them (and, for
    someone filing for another, the authorisation to send with them)."""
    key = intake_key_for(browser_binding(), right, {answer.name: answer.data for answer in form.answer_fields()})
    if represented and upload_form is None:
        upload_form = AuthorisationForm(formdata=None)
    return render_template("intake/check.html", form=form, right=right, questions=questions_for(right),
                           send_form=SendForm(formdata=None, intake_key=key), represented=represented,
                           upload_form=upload_form, **extra), status


def wait_in_words(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes <= 90:
        return ngettext("Your answers are kept below. You can send them in %(num)d minute.",
                        "Your answers are kept below. You can send them in %(num)d minutes.", minutes)
    return ngettext("Your answers are kept below. You can send them in %(num)d hour.",
                    "Your answers are kept below. You can send them in %(num)d hours.", math.ceil(minutes / 60))


@bp.post("/request/<right_slug>/send")
@public
def send(right_slug: str):
    right = right_from_slug(right_slug)
    form = request_form_class(right)()
    if not form.validate():
        return _form_page(form, right, 400)
    return _file(form, right, SendForm(), contact=form.email.data)


@bp.post("/request/<right_slug>/for-someone-else/send")
@public
@csrf.exempt  # checked by form_with_upload, once this page's upload limit is in force
def send_for_someone_else(right_slug: str):
    right = right_from_slug(right_slug)
    forms = form_with_upload(lambda: (represented_form_class(right)(), SendForm(), AuthorisationForm()))
    if forms is None:
        return render_template("intake/too_large.html"), 413
    form, send_form, upload = forms
    if not form.validate():
        return _form_page(form, right, 400)
    if not upload.validate():
        return _check_page(form, right, 400, represented=True, upload_form=upload)
    representative = RepresentativeDetails(name=form.rep_name.data, relationship=Relationship(form.relationship.data),
                                           email=form.rep_email.data, relationship_note=form.relationship_note.data)
    return _file(form, right, send_form, contact=form.rep_email.data, upload_form=upload,
                 representative=representative, authorisation=upload.authorisation.data)


def _file(form, right: Right, send_form: SendForm, *, contact: str, upload_form=None, **filing):
    """File the checked answers once ("received" only after the commit), within the abuse limits."""
    represented = upload_form is not None
    db = get_session()
    filed_id = filed_public_id(db, send_form.valid_key())
    if filed_id is not None:  # the same answers sent again (Back after Send): the first request, not a new one
        return _received(filed_id)
    refused = first_refusal(("intake_ip", client_ip()), ("intake_address", contact))
    if refused is not None:
        # An office behind one address files more than the limit: keep what was typed, say how long to
        # wait, and offer the controller's own contacts (the check page shows them).
        response = make_response(_check_page(form, right, 429, represented=represented,
                                            wait=wait_in_words(refused.retry_after)))
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    try:
        filed = submit_request(
            db,
            right=right,
            email=form.email.data,
            language=str(get_locale()),
            phone=form.phone.data,
            full_name=form.full_name.data,
            details=form.details(),
            intake_key=send_form.valid_key(),
            browser_binding=browser_binding(),
            **filing,
        )
    except InvalidRequest as exc:  # the form checks the same rules; this is the last line of defence
        db.rollback()
        for name, message in exc.errors.items():
            if name in form:
                form[name].errors = [message]
        return _form_page(form, right, 400)
    except AuthorisationFileError as exc:  # not a PDF, JPEG or PNG, or too large: nothing was stored
        db.rollback()
        upload_form.authorisation.errors = [str(exc)]
        return _check_page(form, right, 400, represented=True, upload_form=upload_form)
    db.commit()  # "received" is said only after this
    current_app.logger.info("request %s filed", filed.id)
    return _received(filed.public_id)


def _received(public_id: str):
    session[FILED_KEY] = public_id
    return redirect(url_for("intake.received"), code=303)


#: built once (every filing ends on this page): the request with what its dates and steps need
_FILED_REQUEST = (
    sa.select(SubjectRequest).where(SubjectRequest.public_id == sa.bindparam("public_id"))
    .options(orm.joinedload(SubjectRequest.pauses), orm.joinedload(SubjectRequest.representative))
)


@bp.get("/request/received")
@public
@reads_only
def received():
    public_id = session.get(FILED_KEY)
    filed = (
        get_session().scalars(_FILED_REQUEST, {"public_id": public_id}).unique().first()
        if isinstance(public_id, str)
        else None
    )
    if filed is None:
        return redirect(url_for("intake.index"))
    return render_template("intake/received.html", case=filed, code_form=CodeForm(formdata=None),
                           deadlines=deadlines_for(filed, current_app.extensions["dsr.controller"]))
