"""The subject downloads the released export bundle: from their own case page, after a fresh code.

    GET  /case/<id>/download/<download id>            what the file holds, until when; one button
    POST /case/<id>/download/<download id>            fresh code in the last minutes: the file; else a code
                                                      (protect=1: a password-protected copy, password by SMS)
    GET  /case/<id>/download/<download id>/code       enter the code from the e-mail
    POST /case/<id>/download/<download id>/code       right code: the file
    POST /case/<id>/download/<download id>/send-code  a new code

The case must be this browser's own (`case_for_subject_or_404`), and the download id must be that
case's: anything else is "not found" (404), never "forbidden". An expired or used-up download says
so (410). GET pages change nothing; the download is counted and audited, then committed, and only
then streamed.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from dsr.auth.policy import public
from dsr.db import get_session
from dsr.export.delivery import (
    BundleNotFound,
    BundleUnavailable,
    DownloadsUsedUp,
    ProtectionUnavailable,
    downloadable_bundle,
    open_download_stream,
    open_protected_download,
)
from dsr.identity import links, service
from dsr.identity.subject_access import browser_binding, case_for_subject_or_404, is_fresh, mark_fresh
from dsr.identity.verification import phone_on_file
from dsr.identity.web import client_ip, code_error_message, delivery_failed, enforce_limits, send_code
from dsr.intake.download_service import DownloadOffer
from dsr.intake.forms import CodeForm, ConfirmForm
from dsr.intake.validation import mask_phone
from dsr.models import ChallengePurpose, ExportBundle, SubjectRequest
from dsr.web import attachment

bp = Blueprint("download", __name__, url_prefix="/case/<public_id>/download/<download_id>")


@bp.after_request
def _forget_case_language(response):
    # g can outlive the request (an app context pushed around several requests, as in tests).
    g.pop("language", None)
    return response


#: download ids are secrets.token_urlsafe(16); anything else (a NUL byte, dots, slashes) is not found
_DOWNLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,43}$")


def _load(public_id: str, download_id: str) -> tuple[SubjectRequest, ExportBundle | None, str | None]:
    """(case, bundle, why unavailable) for this browser's own case, or 404."""
    case = case_for_subject_or_404(public_id)
    if not _DOWNLOAD_ID.match(download_id):
        abort(404)  # before any query: PostgreSQL refuses NUL bytes in text (a 500, not a 404)
    if not request.args.get("lang") and not session.get("lang"):
        g.language = case.language  # the case's language unless the visitor chose another
    try:
        return case, downloadable_bundle(get_session(), case.id, download_id), None
    except BundleNotFound:
        abort(404)
    except BundleUnavailable as exc:
        return case, None, "used_up" if isinstance(exc, DownloadsUsedUp) else "expired"


def _gone(case: SubjectRequest, reason: str):
    return render_template("subject/download_gone.html", case=case, reason=reason), 410


def _fresh(case: SubjectRequest) -> bool:
    return is_fresh(case, ChallengePurpose.DOWNLOAD, int(current_app.config["DOWNLOAD_FRESH_SECONDS"]))


def _download_page(case: SubjectRequest, bundle: ExportBundle, status: int = 200, **extra):
    phone = phone_on_file(get_session(), case)
    return render_template("subject/download.html", case=case, offer=DownloadOffer(bundle, None),
                           fresh=_fresh(case), form=ConfirmForm(formdata=None),
                           protect_phone=mask_phone(phone) if phone else None, **extra), status


def _protect_key(download_id: str) -> str:
    return f"download-protect:{download_id}"


@bp.get("")
@public
def page(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    return _download_page(case, bundle)


@bp.post("")
@public
def start(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    protect = request.form.get("protect") == "1"
    if _fresh(case):
        return _stream(case, bundle, protect)
    session[_protect_key(download_id)] = protect  # the choice waits for the code
    return _send_code(case, bundle)


@bp.post("/send-code")
@public
def resend(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    return _send_code(case, bundle)


def _send_code(case: SubjectRequest, bundle: ExportBundle):
    refused = send_code(case, ChallengePurpose.DOWNLOAD, context={"case_url": links.case_link_url(case.public_id)})
    if refused:
        return _code_page(case, bundle, CodeForm(formdata=None), 429, refused=refused)
    return redirect(url_for("download.code", public_id=case.public_id, download_id=bundle.download_id), code=303)


def _code_page(case: SubjectRequest, bundle: ExportBundle, form: CodeForm, status: int = 200, **extra):
    latest = service.latest_challenge(get_session(), case, ChallengePurpose.DOWNLOAD)
    return render_template(
        "subject/download_code.html",
        case=case,
        offer=DownloadOffer(bundle, None),
        form=form,
        delivery_failed=delivery_failed(latest),
        **extra,
    ), status


@bp.get("/code")
@public
def code(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    return _code_page(case, bundle, CodeForm(formdata=None))


@bp.post("/code")
@public
def check(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    form = CodeForm()
    if not form.validate():
        return _code_page(case, bundle, form, 400)
    enforce_limits(("code_entry_ip", client_ip()), ("code_entry_address", case.email))
    db = get_session()
    result = service.check_code(db, case, ChallengePurpose.DOWNLOAD, form.code.data, browser_binding())
    db.commit()
    if not result.ok:
        form.code.errors = [code_error_message(result)]
        return _code_page(case, bundle, form, 400)
    mark_fresh(case, ChallengePurpose.DOWNLOAD)
    return _stream(case, bundle, bool(session.pop(_protect_key(download_id), False)))


def _stream(case: SubjectRequest, bundle: ExportBundle, protect: bool = False):
    enforce_limits(("download_ip", client_ip()))
    db = get_session()
    try:
        if protect:
            download = open_protected_download(db, case.id, bundle.download_id)
        else:
            download = open_download_stream(db, case.id, bundle.download_id)
    except ProtectionUnavailable:
        db.rollback()
        return _download_page(case, bundle, 400, protect_refused=True)
    except BundleNotFound:
        db.rollback()
        abort(404)
    except BundleUnavailable as exc:
        db.rollback()
        return _gone(case, "used_up" if isinstance(exc, DownloadsUsedUp) else "expired")
    db.commit()  # counted and audited before a byte leaves
    return attachment(download)
