"""Staff management (admins with a fresh login): accounts, roles, disabling, MFA and password resets."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dsr.auth import accounts
from dsr.auth.forms import NewStaffForm, RoleForm
from dsr.auth.roles import staff_admin
from dsr.db import get_session
from dsr.models import StaffRole, StaffUser

bp = Blueprint("staff", __name__, url_prefix="/staff/accounts")


def _user_or_404(user_id: int) -> StaffUser:
    user = get_session().get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


def _render_list(form: NewStaffForm, status: int = 200):
    users = (
        get_session().scalars(sa.select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)).all()
    )
    return render_template("staff/users.html", users=users, form=form, role_form=RoleForm()), status


@bp.get("/")
@staff_admin
def users():
    return _render_list(NewStaffForm())


@bp.post("/")
@staff_admin
def create():
    form = NewStaffForm()
    if not form.validate_on_submit():
        return _render_list(form, 400)
    session = get_session()
    try:
        user, password = accounts.create_staff(
            session,
            email=form.email.data,
            role=StaffRole(form.role.data),
            display_name=form.display_name.data,
            actor_id=g.staff.id,
        )
    except accounts.AccountError as exc:
        session.rollback()
        form.email.errors.append(str(exc))
        return _render_list(form, 400)
    session.commit()
    return render_template("staff/one_time_password.html", user=user, password=password, created=True)


def _change(user_id: int, change, done):
    """`done`: the flash text on success, with %(email)s for the account changed."""
    session = get_session()
    user = _user_or_404(user_id)
    try:
        change(session, user)
    except accounts.AccountError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(str(done) % {"email": user.email}, "success")
    return redirect(url_for("staff.users"))


@bp.post("/<int:user_id>/role")
@staff_admin
def set_role(user_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        flash(_("Choose one of the roles."), "error")
        return redirect(url_for("staff.users"))
    return _change(
        user_id,
        lambda s, u: accounts.set_role(s, g.staff, u, StaffRole(form.role.data)),
        _l("The role of %(email)s is changed; their sessions were logged out."),
    )


@bp.post("/<int:user_id>/disable")
@staff_admin
def disable(user_id: int):
    return _change(
        user_id,
        lambda s, u: accounts.disable(s, g.staff, u),
        _l("%(email)s is disabled and logged out everywhere."),
    )


@bp.post("/<int:user_id>/enable")
@staff_admin
def enable(user_id: int):
    return _change(user_id, lambda s, u: accounts.enable(s, g.staff, u), _l("%(email)s can log in again."))


@bp.post("/<int:user_id>/reset-two-step")
@staff_admin
def reset_mfa(user_id: int):
    return _change(
        user_id,
        lambda s, u: accounts.reset_mfa(s, g.staff, u),
        _l("%(email)s sets up a new authenticator at the next login; their sessions were logged out."),
    )


@bp.post("/<int:user_id>/reset-password")
@staff_admin
def reset_password(user_id: int):
    session = get_session()
    user = _user_or_404(user_id)
    password = accounts.reset_password(session, g.staff, user)
    session.commit()
    return render_template("staff/one_time_password.html", user=user, password=password, created=False)
