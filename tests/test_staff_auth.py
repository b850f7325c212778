"""Staff accounts (S1–S13): password rules, Argon2id, mandatory TOTP, throttling, no enumeration,
server-side session invalidation, timeouts and fresh re-authentication."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import force_locale

from dsr.auth import accounts, totp
from dsr.auth.passwords import PasswordRejected, check_new_password, hash_password, verify_password
from dsr.auth.roles import roles_of
from dsr.db import utcnow
from dsr.models import AuditEvent, StaffRole, StaffUser
from tests.helpers.staff import PASSWORD, enrolled_staff, fresh_code, login, secret_on_page

# --- S1, S2: password rules and hashing ------------------------------------------------------------


@pytest.mark.parametrize("password", ["elevenchars", "Password1234", "password1234", "1qaz2wsx3edc"])
def test_short_and_common_passwords_are_refused(password):
    with pytest.raises(PasswordRejected):
        check_new_password(password)


@pytest.mark.parametrize(
    "password", ["x" * 63 + "y", "🔐" * 40 + "ørret og fjord" * 5 + "x" * 30, "twelve chars"]
)
def test_long_and_unicode_passwords_are_accepted(password):
    check_new_password(password)
    assert verify_password(hash_password(password), password)


def test_passwords_are_not_truncated():
    first, second = "a" * 72 + "x" * 28, "a" * 72 + "y" * 28  # same first 72 bytes (bcrypt's limit)
    assert not verify_password(hash_password(first), second)


def test_hashes_are_argon2id_with_strong_parameters():
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    params = dict(part.split("=") for part in hashed.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2


# --- S8: no default accounts; the CLI's one-time password must be changed ---------------------------


def test_a_fresh_database_has_no_staff(session):
    assert session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 0


def test_create_staff_cli_prints_a_one_time_password_that_forces_enrolment_and_a_change(
    runner, client, session
):
    result = runner.invoke(args=["dsr", "create-staff", "Ada@Fjordnett.example", "--role", "admin"])
    assert result.exit_code == 0, result.output
    password = re.search(r"one-time password: (\S+)", result.output).group(1)
    user = session.scalar(sa.select(StaffUser).where(StaffUser.email == "ada@fjordnett.example"))
    assert user.role is StaffRole.ADMIN and user.must_change_password and user.totp_enrolled_at is None
    assert password not in user.password_hash

    response = client.post("/staff/login", data={"email": "ada@fjordnett.example", "password": password})
    assert response.headers["Location"].endswith("/staff/login/set-up-two-step")
    page = client.get("/staff/login/set-up-two-step").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    secret = secret_on_page(page)
    response = client.post("/staff/login/set-up-two-step", data={"code": pyotp.TOTP(secret).now()})
    assert response.headers["Location"].endswith("/staff/login/new-password")
    assert client.get("/staff/").status_code == 302  # still not logged in
    response = client.post("/staff/login/new-password", data={"password": "short", "confirm": "short"})
    assert "at least 12 characters" in response.get_data(as_text=True)
    new = "fjord mountain coffee kettle"
    response = client.post("/staff/login/new-password", data={"password": new, "confirm": new})
    assert response.status_code == 302 and client.get("/staff/").status_code == 200
    session.expire_all()
    assert verify_password(user.password_hash, new) and not user.must_change_password
    assert user.totp_enrolled_at is not None and secret not in (user.totp_secret_sealed or "")  # S5: sealed

    assert (
        runner.invoke(args=["dsr", "create-staff", "ada@fjordnett.example"]).exit_code == 2
    )  # no duplicates


# --- S3, S4: TOTP required, single use ---------------------------------------------------------------


def test_a_password_only_session_reaches_no_staff_page(app, client, session):
    user, _secret = enrolled_staff(session, app, StaffRole.ADMIN)
    client.post("/staff/login", data={"email": user.email, "password": PASSWORD})
    reached = []
    for rule in app.url_map.iter_rules():
        if roles_of(app, rule.endpoint) is None:
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if client.open(url, method=method).status_code == 200:
                reached.append(f"{method} {rule.endpoint}")
    assert reached == []
    assert client.get("/staff/login/code").status_code == 200


def test_a_totp_code_works_once_and_old_codes_are_refused(app, session):
    user, secret = enrolled_staff(session, app)
    with app.test_request_context():
        now = utcnow()
        with time_machine.travel(now, tick=False):
            code = pyotp.TOTP(secret).now()
            assert accounts.use_totp_code(session, user, code)
            assert not accounts.use_totp_code(session, user, code)  # replay
        with time_machine.travel(now + timedelta(seconds=60), tick=False):
            assert not accounts.use_totp_code(
                session, user, pyotp.TOTP(secret).at(now - timedelta(seconds=90))
            )
        with time_machine.travel(now + timedelta(seconds=120), tick=False):
            assert accounts.use_totp_code(session, user, pyotp.TOTP(secret).at(now + timedelta(seconds=100)))


def test_totp_window_is_at_most_one_step():
    assert totp.VALID_WINDOW <= 1
    secret = pyotp.random_base32()
    at = 1_800_000_000
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(at - 30), after_step=None, now=at) is not None
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(at - 60), after_step=None, now=at) is None


# --- S6, S7: throttling and no enumeration ----------------------------------------------------------


def test_login_is_throttled_per_account_with_retry_after(app, client, session):
    user, _ = enrolled_staff(session, app)
    statuses = [
        client.post("/staff/login", data={"email": user.email, "password": "wrong password!"}).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    response = client.post("/staff/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1


def test_unknown_account_and_wrong_password_answer_the_same(app, client, session):
    user, _ = enrolled_staff(session, app)
    wrong = client.post("/staff/login", data={"email": user.email, "password": "not the password"})
    client2 = app.test_client()
    unknown = client2.post(
        "/staff/login", data={"email": "nobody@fjordnett.example", "password": "not the password"}
    )
    normalise = lambda html: html.replace(user.email, "EMAIL").replace("nobody@fjordnett.example", "EMAIL")  # noqa: E731
    assert wrong.status_code == unknown.status_code == 200
    assert normalise(wrong.get_data(as_text=True)) == normalise(unknown.get_data(as_text=True))
    assert "The e-mail address or the password is not right." in wrong.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "staff.login_failed")) == 2


# --- S9–S12: sessions ---------------------------------------------------------------------------------


def test_session_is_rotated_at_login_and_no_remember_cookie(app, client, session):
    user, secret = enrolled_staff(session, app)
    client.get("/staff/login")
    before = client.get_cookie("dsr-staff")
    response = login(client, user, secret)
    after = client.get_cookie("dsr-staff")
    assert after is not None and (before is None or before.value != after.value)
    assert "remember_token" not in response.headers.get("Set-Cookie", "")
    assert after.http_only and after.same_site == "Strict"  # staff have their own Strict cookie (S12)


def test_a_logged_out_cookie_replayed_is_refused(app, client, session):
    user, secret = enrolled_staff(session, app)
    login(client, user, secret)
    assert client.get("/staff/").status_code == 200
    stolen = client.get_cookie("dsr-staff").value
    assert client.post("/staff/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("dsr-staff", stolen)
    response = replay.get("/staff/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert replay.post("/staff/register.csv").status_code == 302


@pytest.mark.parametrize("change", ["disable", "reset_mfa", "set_role"])
def test_admin_changes_end_the_users_sessions(app, client, session, change):
    admin, _ = enrolled_staff(session, app, StaffRole.ADMIN)
    user, secret = enrolled_staff(session, app)
    login(client, user, secret)
    assert client.get("/staff/").status_code == 200
    if change == "set_role":
        accounts.set_role(session, admin, user, StaffRole.VIEWER)
    else:
        getattr(accounts, change)(session, admin, user)
    session.commit()
    assert client.get("/staff/").status_code == 302


def test_changing_the_password_ends_other_sessions_but_keeps_this_one(app, session):
    user, secret = enrolled_staff(session, app)
    here, elsewhere = app.test_client(), app.test_client()
    login(here, user, secret)
    login(elsewhere, user, secret)
    new = "a completely new long passphrase"
    response = here.post(
        "/staff/account/password", data={"current": PASSWORD, "password": new, "confirm": new}
    )
    assert response.status_code == 302
    assert here.get("/staff/").status_code == 200
    assert elsewhere.get("/staff/").status_code == 302


def test_idle_timeout_and_absolute_lifetime(app, client, session):
    user, secret = enrolled_staff(session, app)
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        login(client, user, secret)
        traveller.shift(timedelta(minutes=29))
        assert client.get("/staff/").status_code == 200
        traveller.shift(timedelta(minutes=31))
        response = client.get("/staff/")
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    client2 = app.test_client()
    with time_machine.travel(start + timedelta(hours=1), tick=False) as traveller:
        login(client2, user, secret)
        for _ in range(24):  # active every 29 minutes for 11 h 36 min
            traveller.shift(timedelta(minutes=29))
            assert client2.get("/staff/").status_code == 200
        traveller.shift(timedelta(minutes=25))  # 12 h 01 min after login
        assert client2.get("/staff/").status_code == 302


# --- S13: fresh re-authentication ---------------------------------------------------------------------


def test_staff_management_needs_a_fresh_login(app, client, session):
    admin, secret = enrolled_staff(session, app, StaffRole.ADMIN)
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        login(client, admin, secret)
        assert client.get("/staff/accounts/").status_code == 200
        traveller.shift(timedelta(minutes=20))
        response = client.get("/staff/accounts/")
        assert response.status_code == 302 and "/staff/reauthenticate" in response.headers["Location"]
        response = client.post("/staff/accounts/", data={"email": "new@fjordnett.example", "role": "officer"})
        assert response.status_code == 302 and "/staff/reauthenticate" in response.headers["Location"]
        assert session.scalar(sa.select(StaffUser).where(StaffUser.email == "new@fjordnett.example")) is None
        wrong = client.post("/staff/reauthenticate", data={"password": "not it at all", "code": "123456"})
        assert wrong.status_code == 200 and "not right" in wrong.get_data(as_text=True)
        cookie_before = client.get_cookie("dsr-staff").value
        response = client.post(
            "/staff/reauthenticate",
            data={"password": PASSWORD, "next": "/staff/accounts/", "code": fresh_code(secret, admin.id)},
        )
        assert response.headers["Location"].endswith("/staff/accounts/")
        assert client.get_cookie("dsr-staff").value != cookie_before  # a new session id at step-up
        response = client.post("/staff/accounts/", data={"email": "new@fjordnett.example", "role": "officer"})
        assert response.status_code == 200 and "one-time-password" in response.get_data(as_text=True)


def test_the_last_admin_cannot_be_removed(app, session):
    admin, _ = enrolled_staff(session, app, StaffRole.ADMIN)
    other, _ = enrolled_staff(session, app)
    # outside a request the messages are in the controller's default language; this admin reads English
    with force_locale("en"), pytest.raises(accounts.AccountError, match="only active admin"):
        accounts.set_role(session, admin, admin, StaffRole.OFFICER)
    with force_locale("en"), pytest.raises(accounts.AccountError, match="your own account"):
        accounts.disable(session, admin, admin)
    accounts.disable(session, admin, other)
    assert not other.active


def test_after_login_the_user_lands_where_they_wanted_but_never_off_site(app, client, session):
    user, secret = enrolled_staff(session, app)
    client.post("/staff/login", data={"email": user.email, "password": PASSWORD, "next": "//evil.example/x"})
    response = client.post("/staff/login/code", data={"code": fresh_code(secret, user.id)})
    assert response.headers["Location"] == "/staff/"
    client.post("/staff/logout")
    client.post("/staff/login", data={"email": user.email, "password": PASSWORD, "next": "/staff/dashboard"})
    response = client.post("/staff/login/code", data={"code": fresh_code(secret, user.id)})
    assert response.headers["Location"] == "/staff/dashboard"
