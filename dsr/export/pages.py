"""The export area's blueprint: the staff pages (manual systems, bundle review and release) under
/staff/cases/<id>/, and the subject's download pages under /case/<public id>/download/<download id>."""
from __future__ import annotations

from flask import Blueprint, Response, g

from dsr.export.delivery import Download

bp = Blueprint("export", __name__)

STAFF_CASE = "/staff/cases/<int:case_id>"
DOWNLOAD = "/case/<public_id>/download/<download_id>"


def attachment(download: Download) -> Response:
    """A file download: streamed, fixed server-side name, never cached."""
    response = Response(download.chunks, mimetype=download.mimetype, direct_passthrough=True)
    response.headers.set("Content-Disposition", "attachment", filename=download.filename)
    if download.size:
        response.content_length = download.size
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def _forget_case_language(response):
    # The download pages speak the case's language (g.language); g can outlive the request (an app
    # context pushed around several requests, as in tests).
    g.pop("language", None)
    return response
