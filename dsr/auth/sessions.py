"""The staff session: flask-login on Flask's signed cookie, made revocable server-side.

- The cookie names the user AND their `session_version`; `load_user` refuses a cookie whose
  version is not the current one, so logout, password change, MFA reset and disable end every
  session of that account, including copies of the cookie kept elsewhere (flask-login #480).
- A login has two steps. After the password, the session holds only a short-lived *pending*
  login; `login_user` runs once the TOTP code (or the enrolment, and a forced password change)
  is done, so a password-only session is never a logged-in one.
- The session is cleared and rebuilt at each step (a new cookie: nothing from before carries over),
  expires after STAFF_IDLE_TIMEOUT without activity and STAFF_SESSION_MAX_AGE after login, and
  is "fresh" for STAFF_REAUTH_SECONDS after the last password + code proof. No remember-me.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from flask import Flask, current_app, g, session
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.exceptions import HTTPException

from dsr.auth.cookies import SplitSessionInterface
from dsr.db import get_session
from dsr.models import StaffUser

login_manager = LoginManager()

_PENDING = "staff_pending"
_LOGIN_AT, _SEEN_AT, _AUTH_AT = "staff_login_at", "staff_seen_at", "staff_auth_at"


def init_app(app: Flask) -> None:
    app.session_interface = SplitSessionInterface()  # staff get their own SameSite=Strict cookie
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    app.config["REMEMBER_COOKIE_DURATION"] = 0  # login_user is never called with remember=True
    app.teardown_request(_forget_request_state)


def _forget_request_state(_exc: BaseException | None) -> None:
    # The loaded user and page language live on `g`, which outlives one request when an app context
    # stays pushed (tests, CLI): drop them so the next request loads and checks the user again.
    for name in ("_login_user", "staff", "language", "staff_session_ended"):
        g.pop(name, None)


def load_user(user_id: str) -> StaffUser | None:
    id_part, _, version = (user_id or "").partition(":")
    if not id_part.isdigit() or not version.isdigit():
        return None
    user = get_session().get(StaffUser, int(id_part))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _now() -> float:
    return time.time()


def _restart_session() -> None:
    """Clear everything but the language choice; the next response carries a brand-new cookie."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session["sid"] = secrets.token_urlsafe(16)


# --- the pending (password checked) login -----------------------------------------------------------


def begin_pending_login(user: StaffUser, next_url: str | None) -> None:
    logout_user()
    _restart_session()
    session[_PENDING] = {
        "uid": user.id,
        "ver": user.session_version,
        "at": _now(),
        "mfa": False,
        "next": next_url or "",
    }


def pending_user() -> StaffUser | None:
    pending = session.get(_PENDING)
    if not isinstance(pending, dict):
        return None
    if _now() - float(pending.get("at", 0)) > current_app.config["STAFF_PENDING_LOGIN_SECONDS"]:
        session.pop(_PENDING, None)
        g.staff_session_ended = "pending"
        return None
    user = get_session().get(StaffUser, int(pending.get("uid", 0)))
    if user is None or not user.active or user.session_version != pending.get("ver"):
        session.pop(_PENDING, None)
        return None
    return user


def pending_mfa_done() -> bool:
    pending = session.get(_PENDING)
    return isinstance(pending, dict) and bool(pending.get("mfa"))


def mark_pending_mfa_done(user: StaffUser) -> None:
    """Code accepted, but a forced password change is still due: stay pending, on the new version."""
    pending = dict(session.get(_PENDING) or {})
    pending.update(mfa=True, ver=user.session_version, at=_now())
    session[_PENDING] = pending


def finish_login(user: StaffUser) -> str:
    """Turn the pending login into a real one; returns where the user wanted to go."""
    next_url = (session.get(_PENDING) or {}).get("next") or ""
    _restart_session()
    login_user(user, remember=False, fresh=True)
    now = _now()
    session[_LOGIN_AT] = session[_SEEN_AT] = session[_AUTH_AT] = now
    return next_url


def relogin_after_version_change(user: StaffUser) -> None:
    """After the user's own password change bumped the version: keep THIS session, on a new cookie."""
    login_at = session.get(_LOGIN_AT, _now())
    _restart_session()
    login_user(user, remember=False, fresh=True)
    now = _now()
    session[_LOGIN_AT], session[_SEEN_AT], session[_AUTH_AT] = login_at, now, now


def end_login() -> None:
    logout_user()
    _restart_session()


# --- the logged-in session ------------------------------------------------------------------------


def current_staff() -> StaffUser | None:
    """The logged-in staff member, or None (never logged in, revoked, idle or too old)."""
    if not current_user.is_authenticated:
        return None
    now = _now()
    config = current_app.config
    login_at, seen_at = session.get(_LOGIN_AT), session.get(_SEEN_AT)
    if login_at is None or seen_at is None:
        ended = "invalid"
    elif now - float(seen_at) > config["STAFF_IDLE_TIMEOUT"]:
        ended = "idle"
    elif now - float(login_at) > config["STAFF_SESSION_MAX_AGE"]:
        ended = "max_age"
    else:
        session[_SEEN_AT] = now
        return current_user._get_current_object()
    end_login()
    g.staff_session_ended = ended
    return None


def is_fresh() -> bool:
    auth_at = session.get(_AUTH_AT)
    return auth_at is not None and _now() - float(auth_at) <= current_app.config["STAFF_REAUTH_SECONDS"]


def mark_reauthenticated() -> None:
    """A fresh password + code proof: the session is fresh again, on a new cookie (S9: new id at step-up)."""
    session[_AUTH_AT] = _now()
    session["sid"] = secrets.token_urlsafe(16)


def safe_next(url: str | None, default: str) -> str:
    """`url` when it names a page of this portal that answers GET, else `default` (finding 3).

    Browsers drop tabs and line breaks from a Location and read a backslash as "/", so "/%09/evil.example/"
    arrives as "//evil.example/". Instead of listing such tricks, the path must be plain printable ASCII
    and match a route of the URL map; the query string is kept, the fragment dropped.
    """
    if not url or any(ord(c) <= 0x20 or ord(c) >= 0x7F or c == "\\" for c in url):
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return default
    try:
        current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:  # NotFound, MethodNotAllowed, and RequestRedirect (a path we would rewrite)
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")
