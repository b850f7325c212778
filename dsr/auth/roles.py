"""Staff policies for `dsr.auth.policy`: who may reach a staff endpoint.

    @bp.get("/staff/cases/<int:case_id>")
    @staff_reader                    # admin, officer, viewer
    def detail(case_id): ...

    @bp.post("/staff/cases/<int:case_id>/approve")
    @staff_decider                   # admin, officer
    def approve(case_id): ...

    @staff_policy(StaffRole.ADMIN, fresh=True)   # and a login proven within STAFF_REAUTH_SECONDS

Not logged in (or the session was revoked or timed out): a redirect to the login page. Logged in
with the wrong role: 403. Not fresh: a redirect to the re-authentication page. Staff pages are in the
language the staff member chose (English until they choose, and on the login page until the password
step is passed); letters to subjects keep the case's language (they are rendered by the notify service).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from dsr.auth import sessions
from dsr.auth.policy import Policy, policy_of, with_policy
from dsr.i18n import staff_language, use_language
from dsr.models import StaffRole

ALL_ROLES = (StaffRole.ADMIN, StaffRole.OFFICER, StaffRole.VIEWER)
DECIDING_ROLES = (StaffRole.ADMIN, StaffRole.OFFICER)

_ENDED = {
    "idle": _l("You were logged out after 30 minutes without activity. Log in again."),
    "max_age": _l("Your session reached its 12-hour limit. Log in again."),
    "pending": _l("The login took too long. Start again."),
}


def _to_login():
    ended = g.get("staff_session_ended")
    if ended in _ENDED:
        flash(str(_ENDED[ended]), "error")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target) if target else url_for("auth.login"))


def staff_policy(*roles: StaffRole, fresh: bool = False) -> Callable:
    allowed = frozenset(StaffRole(role) for role in roles)

    def check():
        use_language("en")
        user = sessions.current_staff()
        if user is None:
            return _to_login()
        g.staff = user
        use_language(staff_language(user))
        if user.role not in allowed:
            abort(403)
        if fresh and not sessions.is_fresh():
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(
                url_for("auth.reauthenticate", next=target) if target else url_for("auth.reauthenticate")
            )
        return None

    name = "staff:" + ",".join(sorted(role.value for role in allowed)) + (":fresh" if fresh else "")
    policy = Policy(name, check)
    decorator = with_policy(policy)
    decorator.policy = policy
    return decorator


def _pending_check():
    use_language("en")
    user = sessions.pending_user()
    if user is None:
        return _to_login()
    use_language(staff_language(user))  # the password step is passed: the person is known
    return None


#: the login steps after the password (TOTP, enrolment, forced password change)
login_step = with_policy(Policy("staff:login-step", _pending_check))
#: read-only staff pages (viewers see identifiers masked)
staff_reader = staff_policy(*ALL_ROLES)
#: decisions and anything that changes a case
staff_decider = staff_policy(*DECIDING_ROLES)
#: staff management: admins with a fresh login
staff_admin = staff_policy(StaffRole.ADMIN, fresh=True)


def roles_of(app, endpoint: str) -> frozenset[StaffRole] | None:
    """The roles an endpoint admits, None when it has no staff policy (tests walk the URL map with it)."""
    policy = policy_of(app, endpoint)
    if policy is None or not policy.name.startswith("staff:") or policy.name == "staff:login-step":
        return None
    return frozenset(StaffRole(name) for name in policy.name.split(":")[1].split(","))


def init_app(app) -> None:
    """Templates see the logged-in staff member (set by the policy check) and what they may do."""

    @app.context_processor
    def _staff_globals():
        staff = g.get("staff")
        return {"staff_user": staff, "staff_can_decide": staff is not None and staff.role in DECIDING_ROLES}
