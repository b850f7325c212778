"""The receiving controller's pages (Art. 20(2)): prove the address the bundle was sent to, then download.

    GET  /receive/<token>             who sends what, until when; one button: send a code to the address
    POST /receive/<token>/send-code   a code to the receiver's address (bound to this browser)
    GET  /receive/<token>/code        enter the code (once downloaded, the pages confirm it)
    POST /receive/<token>/code        right code (sent to this transmission's address): the file

An unknown token is "not found" (404); an expired or used-up transmission says so (410). The pages speak
the case's language. The download is counted and audited, committed, and only then streamed.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, g, redirect, render_template, request, url_for

from dsr.auth.policy import public
from dsr.db import get_session
from dsr.export.offer import receiver_last_download
from dsr.export.pages import attachment, bp
from dsr.export.transmission import (
    TransmissionUnavailable,
    available,
    open_receiver_download,
    transmission_by_token,
)
from dsr.forms import CodeForm, ConfirmForm
from dsr.i18n import use_language
from dsr.identity import codes
from dsr.identity.code_pages import client_ip, code_error_message, delivery_failed, enforce_limits
from dsr.identity.codes import CodeLimitReached
from dsr.identity.subject_access import browser_binding
from dsr.models import ChallengeChannel, ChallengePurpose, MessageDirection, SubjectRequest

RECEIVE = "/receive/<token>"


def _receiving(view):
    """Load the transmission of the URL's token (404 when none) and its case, speak the case's language,
    and answer "gone" (410) when its download can no longer be had; else call `view(transmission, case)`."""
    @wraps(view)
    def load(token: str):
        db = get_session()
        transmission = transmission_by_token(db, token)
        if transmission is None:
            abort(404)
        case = db.get(SubjectRequest, transmission.request_id)
        if not request.args.get("lang"):
            use_language(case.language)
        try:
            g.receive_expires_at = available(db, transmission).expires_at
        except TransmissionUnavailable as exc:
            return _gone(transmission, case, str(exc))
        return view(transmission, case)

    return load


def _page(template: str, transmission, case, status: int = 200, **extra):
    downloaded = receiver_last_download(get_session(), transmission, case.reference)
    return render_template(f"export/{template}", transmission=transmission, case=case,
                           expires_at=g.get("receive_expires_at"), downloaded=downloaded, **extra), status


def _gone(transmission, case, reason: str):
    return _page("receive_gone.html", transmission, case, 410, reason=reason)


@bp.get(RECEIVE, endpoint="receive")
@public
@_receiving
def page(transmission, case):
    return _page("receive.html", transmission, case, form=ConfirmForm(formdata=None))


@bp.post(f"{RECEIVE}/send-code", endpoint="receive_send_code")
@public
@_receiving
def send_code(transmission, case):
    enforce_limits(("resend_ip", client_ip()), ("resend_address", transmission.receiver_email))
    db = get_session()
    try:
        codes.issue_code(db, case, ChallengePurpose.RECEIVER, ChallengeChannel.EMAIL, transmission.receiver_email,
                         browser_binding(), context={"receiver_name": transmission.receiver_name},
                         dedupe_key=None, direction=MessageDirection.TO_RECIPIENT)
    except CodeLimitReached as exc:
        db.rollback()
        return _page("receive_code.html", transmission, case, 429, form=CodeForm(formdata=None), refused=exc)
    db.commit()
    return redirect(url_for("export.receive_code", token=transmission.token), code=303)


@bp.get(f"{RECEIVE}/code", endpoint="receive_code")
@public
@_receiving
def code_page(transmission, case):
    latest = codes.latest_challenge(get_session(), case, ChallengePurpose.RECEIVER)
    return _page("receive_code.html", transmission, case, form=CodeForm(formdata=None),
                 delivery_failed=delivery_failed(latest))


@bp.post(f"{RECEIVE}/code", endpoint="receive_check")
@public
@_receiving
def check(transmission, case):
    form = CodeForm()
    if not form.validate():
        return _page("receive_code.html", transmission, case, 400, form=form)
    enforce_limits(("code_entry_ip", client_ip()), ("code_entry_address", transmission.receiver_email))
    db = get_session()
    result = codes.check_code(db, case, ChallengePurpose.RECEIVER, form.code.data, browser_binding())
    # The case's latest receiver code must have gone to this transmission's address (another receiver's
    # code opens only its own page).
    if result.ok and result.challenge.destination != transmission.receiver_email:
        db.rollback()
        abort(404)
    if not result.ok:
        db.commit()  # the try counts
        form.code.errors = [code_error_message(result)]
        return _page("receive_code.html", transmission, case, 400, form=form)
    enforce_limits(("download_ip", client_ip()))
    try:
        download = open_receiver_download(db, transmission)
    except TransmissionUnavailable as exc:
        db.rollback()
        return _gone(transmission, case, str(exc))
    db.commit()  # counted and audited before a byte leaves
    return attachment(download)
