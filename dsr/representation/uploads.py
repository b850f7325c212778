"""Forms that carry an authorisation file (the web form's last step, staff registration, staff attaching
one later): the body is refused above AUTHORISATION_MAX_BYTES before anything is read, and CSRF is checked
once that limit is in force (the views are exempt from the site-wide check, which would read it first)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from dsr.representation.files import max_bytes
from dsr.sitewide import csrf

#: room for the form's other fields and multipart headers above the file itself
UPLOAD_OVERHEAD_BYTES = 64 * 1024

Form = TypeVar("Form")


def form_with_upload(make_form: Callable[[], Form]) -> Form | None:
    """The POSTed form under this page's upload limit (CSRF checked); None when the body is too large."""
    request.max_content_length = max_bytes() + UPLOAD_OVERHEAD_BYTES
    try:
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        return make_form()  # reads the body: refused here when it is too large
    except RequestEntityTooLarge:
        return None
