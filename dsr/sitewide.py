"""Site-wide request handling: CSRF, security headers, caching, error pages, the weak-key and NUL-byte
guards, and the globals every page gets."""
from __future__ import annotations

import logging
import secrets

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, g, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from dsr.i18n import LANGUAGE_NAMES
from dsr.rights_text import RIGHT_SUMMARIES, RIGHT_TITLES

log = logging.getLogger(__name__)
csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.before_request(_refuse_weak_key)
    app.before_request(_refuse_nul_bytes)
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.OperationalError, _database_unavailable)
    app.register_error_handler(sa.exc.InterfaceError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected_error)
    app.context_processor(_page_globals)


def _page_globals() -> dict:
    # named in the page's (or the letter's) language: its addresses end "Norge" in Norwegian
    controller = current_app.extensions["dsr.controller"].in_language(str(get_locale() or "en"))
    return {"controller": controller, "controller_name": controller.name, "language_names": LANGUAGE_NAMES,
            "right_titles": RIGHT_TITLES, "right_summaries": RIGHT_SUMMARIES}


def _refuse_weak_key():
    if current_app.config.get("DSR_WEAK_KEY"):
        return Response("This portal is not configured: set DSR_SECRET_KEY to a random value of at least "
                        "32 characters before serving in production.\n", status=503, mimetype="text/plain")
    return None


def _refuse_nul_bytes():
    # No page, field, id or search term of this portal can contain a NUL byte, and PostgreSQL refuses
    # them outright (a 500 from deep inside a query). Refused here, once, before any view reads them:
    # in the path no such page exists (404); in what was sent, the visitor is told (400).
    if "\x00" in request.path:
        abort(404)
    values = list(request.args.values())
    # Multipart bodies are left to their view: the upload page sets its own size limit before parsing.
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype == "application/x-www-form-urlencoded":
        values += request.form.values()
    if any("\x00" in value for value in values):
        return _error_page(400, _("What you sent contains a character we cannot accept (a NUL byte). Remove it "
                                  "and try again."))
    return None


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")  # links carry tokens: never leak them onwards
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    return response


def _csrf_error(error: CSRFError):
    return _error_page(400, _("The form expired or was sent from another page. Go back, reload the page "
                              "and send it again."))


def _http_error(error: HTTPException):
    if request.path.startswith("/static/") or error.code is None or error.code < 400:
        return error
    messages = {
        400: _("The request could not be understood."),
        403: _("You do not have access to this page."),
        404: _("We could not find that page. The link may be wrong or may have expired."),
        405: _("That action is not possible on this page."),
        410: _("This link has already been used or has expired."),
        413: _("What you sent is too large."),
        429: _("Too many attempts. Please wait a little and try again."),
    }
    response = _error_page(error.code, messages.get(error.code, error.description or ""))
    retry_after = getattr(error, "retry_after", None) or (error.response.headers.get("Retry-After")
                                                          if error.response is not None else None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _database_unavailable(error: Exception):
    # The database refused or dropped the connection (restarting, overloaded, locked): nothing was
    # stored, and the page must say so rather than pretend to a "received".
    log.warning("database unavailable for %s %s (%s)", request.method, request.endpoint, type(error).__name__)
    response = _error_page(503, _("We could not save or load this just now, so nothing was stored. Please try "
                                  "again in a minute."))
    response.headers["Retry-After"] = "30"
    return response


def _unexpected_error(error: Exception):
    # A correlation id ties the generic page to the log line; neither carries the exception text
    # to the visitor (it may hold personal data).
    incident = secrets.token_hex(6)
    g.incident = incident
    log.exception("unhandled error, incident %s", incident)
    return _error_page(500, _("Something went wrong on our side. Nothing you sent has been lost if the page "
                              "said it was received. Please try again later."), incident=incident)


def _error_page(status: int, message: str, incident: str | None = None) -> Response:
    body = render_template("errors/error.html", status=status, message=message, incident=incident)
    return Response(body, status=status, mimetype="text/html")
