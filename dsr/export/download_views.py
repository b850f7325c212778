"""The subject downloads the released export bundle: from their own case page, after a fresh code.

The code re-proves the factors the case was opened with (`fresh_code_route`): by SMS to the phone
the step-up code went to when the case was opened with e-mail + SMS (the case access this browser
holds already stands for the mailbox), otherwise by e-mail.

    GET  /case/<id>/download/<download id>            what the file holds, until when; one button
    POST /case/<id>/download/<download id>            fresh code in the last minutes: the file; else a code
                                                      (protect=1: a password-protected copy, password by SMS)
    GET  /case/<id>/download/<download id>/code       enter the code (from the e-mail, or the SMS)
    POST /case/<id>/download/<download id>/code       right code: the file
    POST /case/<id>/download/<download id>/send-code  a new code

The case must be this browser's own (`case_for_subject_or_404`), and the download id must be that
case's: anything else is "not found" (404), never "forbidden". An expired or used-up download says
so (410). GET pages change nothing; the download is counted and audited, then committed, and only
then streamed.
"""

from __future__ import annotations

import re

from flask import abort, current_app, redirect, render_template, request, session, url_for

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
from dsr.export.offer import DownloadOffer, bundle_of_link, last_download
from dsr.export.pages import DOWNLOAD, attachment, bp
from dsr.forms import CodeForm, ConfirmForm
from dsr.i18n import use_language
from dsr.identity import codes
from dsr.identity.code_pages import (
    check_code_or_rerender,
    client_ip,
    delivery_failed,
    enforce_limits,
    send_code,
)
from dsr.identity.subject_access import case_for_subject_or_404, download_proven, mark_download_proven
from dsr.identity.verification import CodeRoute, fresh_code_route, phone_on_file
from dsr.models import ChallengeChannel, ChallengePurpose, ExportBundle, SubjectRequest
from dsr.validation import mask_phone

#: download ids are secrets.token_urlsafe(16); anything else (a NUL byte, dots, slashes) is not found
_DOWNLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,43}$")


def _load(public_id: str, download_id: str) -> tuple[SubjectRequest, ExportBundle | None, str | None]:
    """(case, bundle, why unavailable) for this browser's own case, or 404."""
    case = case_for_subject_or_404(public_id)
    if not _DOWNLOAD_ID.match(download_id):
        abort(404)  # before any query: PostgreSQL refuses NUL bytes in text (a 500, not a 404)
    if not request.args.get("lang") and not session.get("lang"):
        use_language(case.language)  # the case's language unless the visitor chose another
    try:
        return case, downloadable_bundle(get_session(), case.id, download_id), None
    except BundleNotFound:
        abort(404)
    except BundleUnavailable as exc:
        return case, None, "used_up" if isinstance(exc, DownloadsUsedUp) else "expired"


def _gone(case: SubjectRequest, reason: str):
    bundle = bundle_of_link(get_session(), case.id, request.view_args["download_id"])
    downloaded = last_download(get_session(), bundle, case.reference) if bundle is not None else None
    return render_template("export/download_gone.html", case=case, reason=reason, downloaded=downloaded), 410


def _fresh(case: SubjectRequest) -> bool:
    return download_proven(case, int(current_app.config["DOWNLOAD_FRESH_SECONDS"]))


def _route(case: SubjectRequest) -> tuple[CodeRoute, str | None]:
    """Where the code goes, and the number as the page shows it (None: by e-mail)."""
    route = fresh_code_route(get_session(), case)
    if route.channel is ChallengeChannel.EMAIL:
        return route, None
    return route, mask_phone(route.destination) if route.destination else ""


def _download_page(case: SubjectRequest, bundle: ExportBundle, status: int = 200, **extra):
    phone = phone_on_file(get_session(), case)
    return render_template("export/download.html", case=case, offer=DownloadOffer(bundle, None),
                           fresh=_fresh(case), form=ConfirmForm(formdata=None), code_phone=_route(case)[1],
                           protect_phone=mask_phone(phone) if phone else None,
                           downloaded=last_download(get_session(), bundle, case.reference), **extra), status


def _protect_key(download_id: str) -> str:
    return f"download-protect:{download_id}"


@bp.get(DOWNLOAD, endpoint="download")
@public
def page(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    return _download_page(case, bundle)


@bp.post(DOWNLOAD, endpoint="download_start")
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


@bp.post(f"{DOWNLOAD}/send-code", endpoint="download_resend")
@public
def resend(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    return _send_code(case, bundle)


def _send_code(case: SubjectRequest, bundle: ExportBundle):
    route, _shown = _route(case)
    if route.destination is None:  # the SMS factor, with no number left to send it to: never the e-mail
        return _download_page(case, bundle, 409)
    refused = send_code(case, ChallengePurpose.DOWNLOAD, channel=route.channel, destination=route.destination)
    if refused:
        return _code_page(case, bundle, CodeForm(formdata=None), 429, refused=refused)
    return redirect(url_for("export.download_code", public_id=case.public_id, download_id=bundle.download_id), code=303)


def _code_page(case: SubjectRequest, bundle: ExportBundle, form: CodeForm, status: int = 200, **extra):
    latest = codes.latest_challenge(get_session(), case, ChallengePurpose.DOWNLOAD)
    return render_template(
        "export/download_code.html",
        case=case,
        offer=DownloadOffer(bundle, None),
        form=form,
        code_phone=_route(case)[1],
        delivery_failed=delivery_failed(latest),
        downloaded=last_download(get_session(), bundle, case.reference),
        **extra,
    ), status


@bp.get(f"{DOWNLOAD}/code", endpoint="download_code")
@public
def code(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    return _code_page(case, bundle, CodeForm(formdata=None))


@bp.post(f"{DOWNLOAD}/code", endpoint="download_check")
@public
def check(public_id: str, download_id: str):
    case, bundle, reason = _load(public_id, download_id)
    if bundle is None:
        return _gone(case, reason)
    refused = check_code_or_rerender(case, ChallengePurpose.DOWNLOAD,
                                     lambda form, status: _code_page(case, bundle, form, status),
                                     lambda db: mark_download_proven(case))
    if refused is not None:
        return refused
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
