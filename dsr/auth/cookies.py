"""Two session cookies (SECURITY-PLAN S12): the subject's, SameSite=Lax, so the link in their e-mail
opens the case page with what this browser proved; and the staff's, SameSite=Strict, so no request
started by another site ever carries a staff session. Pages under /staff read and write the staff
cookie only; every other page the subject's. Both are signed with SECRET_KEY under different salts,
so one cookie is never accepted as the other.
"""

from __future__ import annotations

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin

STAFF_PATH = "/staff"


def is_staff_path(path: str) -> bool:
    return path == STAFF_PATH or path.startswith(STAFF_PATH + "/")


class _StaffCookie(SecureCookieSessionInterface):
    salt = "dsr-staff-session"

    def get_cookie_name(self, app: Flask) -> str:
        return app.config["STAFF_SESSION_COOKIE_NAME"]

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Strict"


class SplitSessionInterface(SecureCookieSessionInterface):
    """The subject's cookie (Flask's own settings), or the staff's for pages under /staff."""

    def __init__(self) -> None:
        self.staff = _StaffCookie()

    def _staff_request(self) -> bool:
        return has_request_context() and is_staff_path(request.path)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if is_staff_path(request.path):
            return self.staff.open_session(app, request)
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if self._staff_request():
            self.staff.save_session(app, session, response)
        else:
            super().save_session(app, session, response)
