"""The demo staff account gets a one-time password like every other account (issue 13, finding 14): it is shown
once, must be replaced at the first login, and never confirms "it is you" for a sensitive action."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr.auth.passwords import hash_password, verify_password
from dsr.demo import DEMO_STAFF_EMAIL, load_demo
from dsr.models import AuditEvent, StaffUser
from tests.helpers.staff import PASSWORD, enrolled_staff, fresh_code, login, secret_on_page

NEW_PASSWORD = "a demo password of my own choosing"


@pytest.fixture
def demo(app):
    return load_demo(app)


def test_the_demo_password_is_one_time_and_replaced_at_first_login(app, client, session, demo):
    assert demo.staff_email == DEMO_STAFF_EMAIL and demo.one_time_password
    response = client.post("/staff/login", data={"email": DEMO_STAFF_EMAIL, "password": demo.one_time_password})
    assert response.headers["Location"].endswith("/staff/login/set-up-two-step")
    secret = secret_on_page(client.get("/staff/login/set-up-two-step").get_data(as_text=True))
    response = client.post("/staff/login/set-up-two-step", data={"code": fresh_code(secret)})
    assert response.headers["Location"].endswith("/staff/login/new-password")  # not the queue
    assert client.get("/staff/").status_code == 302  # nothing else opens before the new password
    response = client.post("/staff/login/new-password", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and client.get("/staff/").status_code == 200

    # "Confirm it is you" takes the new password only; the printed one is worthless now.
    refused = client.post("/staff/reauthenticate", data={"password": demo.one_time_password, "code": "000000"})
    assert refused.status_code == 200 and "not right" in refused.get_data(as_text=True)
    accepted = client.post("/staff/reauthenticate", data={"password": NEW_PASSWORD, "code": fresh_code(secret)})
    assert accepted.status_code == 302


def test_the_one_time_password_is_shown_once_and_never_stored(app, session, demo):
    again = load_demo(app)
    assert again.staff_email == DEMO_STAFF_EMAIL and again.one_time_password is None
    assert not (Path(app.instance_path) / "demo-staff.txt").exists()
    user = session.scalar(sa.select(StaffUser).where(StaffUser.email == DEMO_STAFF_EMAIL))
    assert user.must_change_password and verify_password(user.password_hash, demo.one_time_password)
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "staff.created")) == 1


def test_a_demo_password_printed_by_an_older_version_must_be_changed(app, session):
    old_password = "printed-at-every-start"
    session.add(StaffUser(email=DEMO_STAFF_EMAIL, display_name="Demo Officer", role="admin",
                          password_hash=hash_password(old_password), must_change_password=False))
    session.commit()
    legacy = Path(app.instance_path) / "demo-staff.txt"
    legacy.write_text(f"{DEMO_STAFF_EMAIL}\n{old_password}\n")
    version = session.scalar(sa.select(StaffUser.session_version))
    info = load_demo(app)
    assert info.one_time_password is None and not legacy.exists()
    session.expire_all()
    user = session.scalar(sa.select(StaffUser).where(StaffUser.email == DEMO_STAFF_EMAIL))
    assert user.must_change_password and user.session_version == version + 1  # its sessions end too


def test_confirm_it_is_you_never_accepts_a_one_time_password(app, client, session):
    user, secret = enrolled_staff(session, app)
    login(client, user, secret)
    # An admin's password reset gives a one-time password; even were the session still alive, it would
    # not prove the person at the keyboard is the account holder.
    session.execute(sa.update(StaffUser).where(StaffUser.id == user.id).values(must_change_password=True))
    session.commit()
    response = client.post("/staff/reauthenticate", data={"password": PASSWORD, "code": fresh_code(secret)})
    assert response.status_code == 200
    assert "choose your own password" in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "staff.reauthenticated")) == 0
