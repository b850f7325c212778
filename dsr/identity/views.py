"""Proving who you are: the e-mail code (or its link), then the SMS code to the phone on file.

GET pages only show where the request stands; every change (a code tried, a link used, a new
code sent) is a POST. Verification links open a confirm page and are consumed by its POST only,
so mail scanners that fetch links burn nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for

from dsr import links
from dsr.auth.policy import public
from dsr.db import get_session
from dsr.forms import CodeForm, ConfirmForm
from dsr.identity import codes
from dsr.identity.code_pages import (
    check_code_or_rerender,
    client_ip,
    delivery_failed,
    enforce_limits,
    send_code,
)
from dsr.identity.subject_access import (
    browser_binding,
    factors,
    has_case_access,
    remember_factor,
    request_or_404,
)
from dsr.identity.verification import Step, advance, current_step, phone_on_file
from dsr.models import ChallengeChannel, ChallengePurpose, SubjectRequest
from dsr.validation import mask_phone

bp = Blueprint("identity", __name__, url_prefix="/verify")

CHECKING_REFRESH_SECONDS = 3
CHECKING_MAX_REFRESHES = 40  # two minutes; then the subject presses "Check again"


def wants_email_proof(case: SubjectRequest) -> bool:
    """The e-mail step is open to this browser: nobody proved the address yet, or another browser did
    (this one lost its session, or the subject switched device) and the case is not open yet."""
    step = current_step(get_session(), case)
    return step is Step.EMAIL or (step in (Step.CHECKING, Step.PHONE) and "email" not in factors(case))


def next_page(case: SubjectRequest):
    """Where this browser goes next, from what the request and this browser have proven."""
    step = current_step(get_session(), case)
    if step is Step.OPENED:
        # The factors this browser showed cover the case's (kept on the server: subject_access).
        target = "subject.case" if has_case_access(case) else "identity.verify"
        return redirect(url_for(target, public_id=case.public_id), code=303)
    if step in (Step.CLOSED, Step.STAFF) or "email" not in factors(case):
        return redirect(url_for("identity.verify", public_id=case.public_id), code=303)
    if step is Step.PHONE:
        return redirect(url_for("identity.phone", public_id=case.public_id), code=303)
    return redirect(url_for("identity.checking", public_id=case.public_id), code=303)


# --------------------------------------------------------------------------- the e-mail code


@bp.get("/<public_id>")
@public
def verify(public_id: str):
    case = request_or_404(public_id)
    return _verify_page(case, CodeForm(formdata=None))


def _verify_page(case: SubjectRequest, form: CodeForm, status: int = 200, **extra):
    step = current_step(get_session(), case)
    latest = codes.latest_challenge(get_session(), case, ChallengePurpose.VERIFY)
    return render_template(
        "identity/verify.html",
        case=case,
        form=form,
        step=step,
        show_form=wants_email_proof(case),
        has_access=has_case_access(case),
        proven="email" in factors(case),
        delivery_failed=delivery_failed(latest),
        resend_form=ConfirmForm(formdata=None),
        **extra,
    ), status


@bp.post("/<public_id>")
@public
def check_email_code(public_id: str):
    case = request_or_404(public_id)
    if not wants_email_proof(case):
        return next_page(case)
    return check_code_or_rerender(case, ChallengePurpose.VERIFY, lambda form, status: _verify_page(case, form, status),
                                  lambda db: _proven(db, case, "email")) or next_page(case)


def _proven(db, case: SubjectRequest, factor: str) -> None:
    remember_factor(case, factor)
    advance(db, case)


@bp.post("/<public_id>/resend")
@public
def resend_email_code(public_id: str):
    case = request_or_404(public_id)
    if not wants_email_proof(case):
        return next_page(case)
    refused = send_code(case, ChallengePurpose.VERIFY)
    if refused:
        return _verify_page(case, CodeForm(formdata=None), 429, refused=refused)
    return _verify_page(case, CodeForm(formdata=None), resent=True)


# --------------------------------------------------------------------------- the link


@bp.get("/link/<token>")
@public
def link_confirm(token: str):
    case, expired = _case_of_link(token)
    _public_id, nonce, _expired = links.read_verify_token(token)
    return render_template(
        "identity/link.html",
        case=case,
        expired=expired,
        spent=codes.link_state(get_session(), nonce),
        form=ConfirmForm(formdata=None),
    )


@bp.post("/link/<token>")
@public
def link_use(token: str):
    case, expired = _case_of_link(token)
    if expired:
        return render_template(
            "identity/link.html", case=case, expired=True, form=ConfirmForm(formdata=None)
        ), 410
    public_id, nonce, _expired = links.read_verify_token(token)
    enforce_limits(("code_entry_ip", client_ip()))
    db = get_session()
    case, result = codes.consume_link(db, public_id, nonce, browser_binding())
    if case is None:
        abort(404)
    if result.ok:
        remember_factor(case, "email")
        advance(db, case)
    db.commit()
    if not result.ok:
        if "email" in factors(case) or has_case_access(case):
            return next_page(case)  # a second click in the browser that used it: carry on
        spent = codes.link_state(db, nonce)
        return render_template("identity/link.html", case=case, expired=False, spent=spent or codes.LinkState.USED,
                               form=ConfirmForm(formdata=None)), 410
    return next_page(case)


def _case_of_link(token: str) -> tuple[SubjectRequest, bool]:
    try:
        public_id, _nonce, expired = links.read_verify_token(token)
    except links.LinkInvalid:
        abort(404)
    return request_or_404(public_id), expired


# --------------------------------------------------------------------------- waiting for the lookup


@bp.get("/<public_id>/checking")
@public
def checking(public_id: str):
    case = request_or_404(public_id)
    step = current_step(get_session(), case)
    if step is not Step.CHECKING or "email" not in factors(case):
        return next_page(case)
    # The page reloads itself through the Refresh header (no script, nothing inline), a limited
    # number of times, and can be told to stop: a page that keeps reloading is hard to read.
    rounds = request.args.get("n", default=0, type=int)
    refreshing = request.args.get("refresh") != "off" and rounds < CHECKING_MAX_REFRESHES
    response = make_response(
        render_template(
            "identity/checking.html",
            case=case,
            refreshing=refreshing,
            refresh_seconds=CHECKING_REFRESH_SECONDS,
        )
    )
    if refreshing:
        target = url_for("identity.checking", public_id=case.public_id, n=rounds + 1)
        response.headers["Refresh"] = f"{CHECKING_REFRESH_SECONDS}; url={target}"
    return response


# --------------------------------------------------------------------------- the SMS code


@bp.get("/<public_id>/phone")
@public
def phone(public_id: str):
    case = request_or_404(public_id)
    if current_step(get_session(), case) is not Step.PHONE or "email" not in factors(case):
        return next_page(case)
    return _phone_page(case, CodeForm(formdata=None))


def _phone_page(case: SubjectRequest, form: CodeForm, status: int = 200, **extra):
    db = get_session()
    latest = codes.latest_challenge(db, case, ChallengePurpose.STEP_UP)
    number = latest.destination if latest else phone_on_file(db, case)
    return render_template(
        "identity/phone.html",
        case=case,
        form=form,
        masked=mask_phone(number) if number else "",
        delivery_failed=delivery_failed(latest),
        resend_form=ConfirmForm(formdata=None),
        **extra,
    ), status


@bp.post("/<public_id>/phone")
@public
def check_phone_code(public_id: str):
    case = request_or_404(public_id)
    if current_step(get_session(), case) is not Step.PHONE or "email" not in factors(case):
        return next_page(case)
    return check_code_or_rerender(case, ChallengePurpose.STEP_UP, lambda form, status: _phone_page(case, form, status),
                                  lambda db: _proven(db, case, "sms")) or next_page(case)


@bp.post("/<public_id>/phone/resend")
@public
def resend_phone_code(public_id: str):
    case = request_or_404(public_id)
    if current_step(get_session(), case) is not Step.PHONE or "email" not in factors(case):
        return next_page(case)
    number = phone_on_file(get_session(), case)
    if number is None:
        abort(404)
    refused = send_code(case, ChallengePurpose.STEP_UP, channel=ChallengeChannel.SMS, destination=number)
    if refused:
        return _phone_page(case, CodeForm(formdata=None), 429, refused=refused)
    return _phone_page(case, CodeForm(formdata=None), resent=True)
