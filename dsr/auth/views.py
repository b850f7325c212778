"""Staff login (password, then TOTP or its enrolment, then a forced password change when due),
logout, re-authentication and the staff member's own password."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import TooManyRequests

from dsr import ratelimit
from dsr.auth import accounts, sessions, totp
from dsr.auth.forms import ChangePasswordForm, CodeForm, LanguageForm, LoginForm, NewPasswordForm, ReauthForm
from dsr.auth.passwords import PasswordRejected, verify_password
from dsr.auth.policy import public
from dsr.auth.roles import login_step, staff_reader
from dsr.db import get_session
from dsr.i18n import LANGUAGE_NAMES, available_languages, staff_language, use_language

bp = Blueprint("auth", __name__, url_prefix="/staff")

WRONG_LOGIN = _l("The e-mail address or the password is not right.")
WRONG_CODE = _l("That code is not right, or it was already used. Wait for the next code and try again.")
ONE_TIME_PASSWORD = _l("A one-time password cannot confirm it is you: log out, log in again and choose "
                       "your own password first.")


def _throttle(*limits: tuple[str, str]) -> None:
    for name, key in limits:
        decision = ratelimit.hit(name, key)
        if not decision.allowed:
            raise TooManyRequests(retry_after=decision.retry_after)


def _landing() -> str:
    return url_for("cases.queue")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    use_language("en")
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        _throttle(
            ("login_ip", request.remote_addr or "-"),
            ("login_account", accounts.normalise_email(form.email.data)),
        )
        session = get_session()
        user = accounts.authenticate(session, form.email.data, form.password.data)
        if user is not None and user.totp_enrolled_at is None:
            accounts.enrolment_secret(session, user)  # made here, so the enrolment page only reads
        session.commit()
        if user is None:
            form.password.errors.append(WRONG_LOGIN)
        else:
            sessions.begin_pending_login(user, sessions.safe_next(form.next.data, ""))
            return redirect(url_for("auth.enrol" if user.totp_enrolled_at is None else "auth.code"))
    return render_template("auth/login.html", form=form)


def _after_second_factor(user) -> str:
    session = get_session()
    if user.must_change_password:
        sessions.mark_pending_mfa_done(user)
        return url_for("auth.first_password")
    accounts.login_completed(session, user)
    session.commit()
    return sessions.safe_next(sessions.finish_login(user), _landing())


@bp.route("/login/code", methods=["GET", "POST"])
@login_step
def code():
    user = sessions.pending_user()
    if user.totp_enrolled_at is None:
        return redirect(url_for("auth.enrol"))
    if sessions.pending_mfa_done():
        return redirect(url_for("auth.first_password"))
    form = CodeForm()
    if form.validate_on_submit():
        _throttle(("mfa_account", str(user.id)))
        ok = accounts.use_totp_code(get_session(), user, form.code.data)
        get_session().commit()
        if ok:
            return redirect(_after_second_factor(user))
        form.code.errors.append(WRONG_CODE)
    return render_template("auth/code.html", form=form)


@bp.route("/login/set-up-two-step", methods=["GET", "POST"])
@login_step
def enrol():
    user = sessions.pending_user()
    if user.totp_enrolled_at is not None or not user.totp_secret_sealed:
        return redirect(url_for("auth.code"))
    session = get_session()
    secret = accounts.enrolment_secret(session, user)
    form = CodeForm()
    if form.validate_on_submit():
        _throttle(("mfa_account", str(user.id)))
        ok = accounts.confirm_enrolment(session, user, form.code.data)
        session.commit()
        if ok:
            flash(_("Two-step verification is set up."), "success")
            return redirect(_after_second_factor(user))
        form.code.errors.append(WRONG_CODE)
    uri = totp.provisioning_uri(secret, user.email, accounts.issuer_name())
    return render_template(
        "auth/enrol.html", form=form, qr=totp.qr_data_uri(uri), secret=totp.grouped(secret), raw_secret=secret
    )


@bp.route("/login/new-password", methods=["GET", "POST"])
@login_step
def first_password():
    user = sessions.pending_user()
    if not sessions.pending_mfa_done():
        return redirect(url_for("auth.code"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            accounts.change_password(session, user, form.password.data)
        except (PasswordRejected, accounts.AccountError) as exc:
            session.rollback()
            form.password.errors.append(str(exc))
        else:
            accounts.login_completed(session, user)
            session.commit()
            flash(_("Your new password is saved."), "success")
            return redirect(sessions.safe_next(sessions.finish_login(user), _landing()))
    return render_template("auth/new_password.html", form=form)


@bp.post("/logout")
@public
def logout():
    user = sessions.current_staff()
    if user is not None:
        session = get_session()
        accounts.logout(session, user)
        session.commit()
    sessions.end_login()
    use_language("en")  # said on the login page, which is in English until the person is known
    flash(_("You are logged out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/reauthenticate", methods=["GET", "POST"])
@staff_reader
def reauthenticate():
    user = g.staff
    form = ReauthForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        _throttle(("login_account", user.email))
        if user.must_change_password:
            # A one-time password was handed to the person by someone else: it proves nothing about them.
            form.password.errors.append(ONE_TIME_PASSWORD)
            return render_template("auth/reauthenticate.html", form=form)
        session = get_session()
        ok = verify_password(user.password_hash, form.password.data)
        ok = ok and accounts.use_totp_code(session, user, form.code.data)
        if ok:
            sessions.mark_reauthenticated()
            accounts.reauthenticated(session, user)
        session.commit()
        if ok:
            return redirect(sessions.safe_next(form.next.data, _landing()))
        form.code.errors.append(_("The password or the code is not right."))
    return render_template("auth/reauthenticate.html", form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@staff_reader
def change_password():
    user = g.staff
    form = ChangePasswordForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            accounts.change_password(session, user, form.password.data, current_password=form.current.data)
        except accounts.AccountError as exc:
            session.rollback()
            form.current.errors.append(str(exc))
        except PasswordRejected as exc:
            session.rollback()
            form.password.errors.append(str(exc))
        else:
            session.commit()
            sessions.relogin_after_version_change(user)
            flash(_("Your password is changed. Every other session of yours has been logged out."), "success")
            return redirect(_landing())
    return render_template("auth/change_password.html", form=form)


@bp.route("/account/language", methods=["GET", "POST"])
@staff_reader
def language():
    user = g.staff
    form = LanguageForm()
    form.language.choices = [(code, LANGUAGE_NAMES.get(code, code)) for code in available_languages()]
    if request.method == "GET":
        form.language.data = staff_language(user)
    if form.validate_on_submit():
        session = get_session()
        accounts.set_language(session, user, form.language.data)
        session.commit()
        with force_locale(form.language.data):  # this request's locale is already fixed: say it in the new one
            flash(_("The staff pages are now in this language."), "success")
        return redirect(url_for("auth.language"))
    return render_template("auth/language.html", form=form)
