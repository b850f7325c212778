"""The subject's case page: where the request stands, the due date, messages, reply, withdraw.

A browser sees a case only after proving it (the verification steps, the case link in a letter,
which works once, or a fresh code), recorded on the server (dsr.identity.subject_access); otherwise
the answer is 404, as for a case that does not exist. The page speaks the case's language unless
the visitor picked another.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from dsr import links
from dsr.audit.service import record
from dsr.auth.policy import public
from dsr.cases.states import IllegalTransition
from dsr.complaint.kit import build_kit, kit_filename, kit_response, offers_complaint_kit, render_kit
from dsr.db import get_session, reads_only, utcnow
from dsr.export.offer import download_offers
from dsr.forms import CodeForm, ConfirmForm, ReplyForm
from dsr.i18n import use_language
from dsr.identity import codes
from dsr.identity.code_pages import (
    check_code_or_rerender,
    client_ip,
    delivery_failed,
    enforce_limits,
    send_code,
)
from dsr.identity.subject_access import (
    CASE_LINK,
    CODE,
    case_for_subject_or_404,
    case_link_used,
    grant_case_access,
    has_case_access,
    request_or_404,
)
from dsr.models import ChallengePurpose, Message, SubjectRequest
from dsr.notify.service import shown_text
from dsr.subject import service as case_service

bp = Blueprint("subject", __name__, url_prefix="/case")


def _speak_case_language(case: SubjectRequest) -> None:
    if not request.args.get("lang") and not session.get("lang"):
        use_language(case.language)


@bp.after_request
def _forget_case_language(response):
    # g can outlive the request (an app context pushed around several requests, as in tests).
    g.pop("language", None)
    return response


def _case_page(case: SubjectRequest, messages: list[Message] | None = None, reply_form: ReplyForm | None = None,
               status: int = 200):
    _speak_case_language(case)
    kit_offered = offers_complaint_kit(case)
    return render_template(
        "subject/case.html",
        case=case,
        timeline=case_service.timeline(case),
        messages=case_service.conversation(get_session(), case) if messages is None else messages,
        shown_text=shown_text,
        status_text=case_service.STATUS_TEXT[case.status],
        can_reply=case_service.can_reply(case),
        can_withdraw=case_service.can_withdraw(case),
        reply_form=reply_form or ReplyForm(formdata=None),
        downloads=download_offers(get_session(), case),
        complaint_kit=kit_offered,
        kit_form=ConfirmForm(formdata=None) if kit_offered else None,
    ), status


@bp.get("/<public_id>")
@public
@reads_only
def case(public_id: str):
    return _case_page(*case_service.case_and_conversation_or_404(public_id))


@bp.post("/<public_id>/correspondence")
@public
def complaint_kit(public_id: str):
    """The whole correspondence of a closed case as one file (for a complaint to the supervisory authority).
    A POST: it is audited, and no prefetch or crawler fetches it."""
    found = case_for_subject_or_404(public_id)
    if not offers_complaint_kit(found):
        abort(404)
    db = get_session()
    page = render_kit(build_kit(db, found, current_app.extensions["dsr.controller"], utcnow()))
    record(db, "subject.correspondence_downloaded", actor_type="subject", request_id=found.id)
    db.commit()
    return kit_response(page, kit_filename(found))


@bp.post("/<public_id>/reply")
@public
def reply(public_id: str):
    found = case_for_subject_or_404(public_id)
    form = ReplyForm()
    if not form.validate():
        return _case_page(found, reply_form=form, status=400)
    enforce_limits(("reply_ip", client_ip()))
    db = get_session()
    try:
        case_service.post_reply(db, found, form.message.data)
    except IllegalTransition:
        db.rollback()
        form.message.errors = [_("This request is closed, so it can no longer take messages.")]
        return _case_page(found, reply_form=form, status=409)
    db.commit()
    flash(_("Your message has been sent to our privacy team."), "success")
    return redirect(url_for("subject.case", public_id=public_id), code=303)


@bp.get("/<public_id>/withdraw")
@public
def withdraw_confirm(public_id: str):
    found = case_for_subject_or_404(public_id)
    _speak_case_language(found)
    if not case_service.can_withdraw(found):
        return redirect(url_for("subject.case", public_id=public_id), code=303)
    return render_template("subject/withdraw.html", case=found, form=ConfirmForm(formdata=None))


@bp.post("/<public_id>/withdraw")
@public
def withdraw(public_id: str):
    found = case_for_subject_or_404(public_id)
    db = get_session()
    try:
        case_service.withdraw(db, found)
    except IllegalTransition:
        db.rollback()
        flash(_("This request can no longer be withdrawn."), "error")
        return redirect(url_for("subject.case", public_id=public_id), code=303)
    db.commit()
    flash(_("You have withdrawn your request. We have sent you an e-mail to confirm it."), "success")
    return redirect(url_for("subject.case", public_id=public_id), code=303)


# --------------------------------------------------------------------------- the case link in every mail


def _case_of_token(token: str) -> tuple[SubjectRequest, links.CaseLink]:
    try:
        link = links.read_case_token(token)
    except links.LinkInvalid:
        abort(404)
    found = request_or_404(link.public_id)
    if link.message_id is not None:
        letter = get_session().get(Message, link.message_id)
        if letter is None or letter.request_id != found.id:
            abort(404)
    return found, link


def _spent(link: links.CaseLink) -> str | None:
    """Why this link no longer opens the case by itself: "expired" (too old, or a many-use link of an
    older version), "used" (each letter's link works once), or None."""
    if link.expired or link.message_id is None:
        return "expired"
    return "used" if case_link_used(link.message_id) else None


@bp.get("/open/<token>")
@public
def open_link(token: str):
    found, link = _case_of_token(token)
    _speak_case_language(found)
    return render_template("subject/open.html", case=found, spent=_spent(link), form=ConfirmForm(formdata=None))


@bp.post("/open/<token>")
@public
def open_link_use(token: str):
    found, link = _case_of_token(token)
    if has_case_access(found):  # a second click in the browser the link already let in
        return redirect(url_for("subject.case", public_id=found.public_id), code=303)
    db = get_session()
    if _spent(link) is None and grant_case_access(found, CASE_LINK, case_link_message_id=link.message_id):
        db.commit()
        return redirect(url_for("subject.case", public_id=found.public_id), code=303)
    db.rollback()
    return redirect(url_for("subject.open_link", token=token), code=303)  # it offers a fresh code


@bp.post("/open/<token>/send-code")
@public
def reopen_send_code(token: str):
    """A spent link still names the case: send a fresh code to the request's own address."""
    found, _link = _case_of_token(token)
    refused = send_code(found, ChallengePurpose.REOPEN)
    if refused:
        return _reopen_page(token, found, CodeForm(formdata=None), 429, refused=refused)
    return redirect(url_for("subject.reopen_code", token=token), code=303)


def _reopen_page(token: str, found: SubjectRequest, form: CodeForm, status: int = 200, **extra):
    _speak_case_language(found)
    latest = codes.latest_challenge(get_session(), found, ChallengePurpose.REOPEN)
    return render_template(
        "subject/reopen.html",
        case=found,
        token=token,
        form=form,
        delivery_failed=delivery_failed(latest),
        **extra,
    ), status


@bp.get("/open/<token>/code")
@public
def reopen_code(token: str):
    found, _link = _case_of_token(token)
    return _reopen_page(token, found, CodeForm(formdata=None))


@bp.post("/open/<token>/code")
@public
def reopen_check(token: str):
    found, _link = _case_of_token(token)
    refused = check_code_or_rerender(found, ChallengePurpose.REOPEN,
                                     lambda form, status: _reopen_page(token, found, form, status),
                                     lambda db: grant_case_access(found, CODE))
    if refused is not None:
        return refused
    return redirect(url_for("subject.case", public_id=found.public_id), code=303)
