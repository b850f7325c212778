"""Staff test helpers: accounts with TOTP enrolled, and logging a test client in through the real pages."""

from __future__ import annotations

import re

import pyotp

from dsr.auth import totp
from dsr.auth.passwords import hash_password
from dsr.crypto import seal
from dsr.db import utcnow
from dsr.models import StaffRole, StaffUser

PASSWORD = "correct horse battery staple"
_used_steps: dict[str, int] = {}


def enrolled_staff(
    session,
    app,
    role: StaffRole = StaffRole.OFFICER,
    email: str | None = None,
    password: str = PASSWORD,
    **overrides,
) -> tuple[StaffUser, str]:
    """A staff account with a known password and TOTP secret, ready to log in."""
    secret = pyotp.random_base32()
    count = session.query(StaffUser).count() + 1
    user = StaffUser(
        email=email or f"{role.value}{count}@fjordnett.example",
        display_name=f"{role.value} {count}",
        role=role,
        password_hash=hash_password(password),
        must_change_password=False,
        totp_secret_sealed=seal(secret, app),
        totp_enrolled_at=utcnow(),
        **overrides,
    )
    session.add(user)
    session.commit()
    return user, secret


def fresh_code(secret: str, user_id: int | None = None) -> str:
    """A code for a time step this secret has not used yet (the window allows the next step too)."""
    step = max(totp.current_step(), _used_steps.get(secret, -1) + 1)
    _used_steps[secret] = step
    return pyotp.TOTP(secret).at(step * totp.STEP_SECONDS)


def login(client, user: StaffUser, secret: str, password: str = PASSWORD):
    """Log in through the login and code pages; returns the last response."""
    response = client.post("/staff/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert response.headers["Location"].endswith("/staff/login/code"), response.headers["Location"]
    response = client.post("/staff/login/code", data={"code": fresh_code(secret, user.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    return response


def logged_in_client(app, session, role: StaffRole = StaffRole.OFFICER):
    """A test client of a new staff member of `role`, logged in through the real pages (a fresh login)."""
    user, secret = enrolled_staff(session, app, role)
    client = app.test_client()
    login(client, user, secret)
    return client


def secret_on_page(html: str) -> str:
    match = re.search(r'data-secret="([A-Z2-7]+)"', html)
    assert match, "no TOTP secret on the enrolment page"
    return match.group(1)


def officer(session, email: str = "officer@fjordnett.example") -> StaffUser:
    """An officer row for services called directly (no password or TOTP: it never logs in)."""
    user = StaffUser(email=email, display_name="Officer", role=StaffRole.OFFICER, password_hash="x",
                     must_change_password=False)
    session.add(user)
    session.commit()
    return user
