"""Staff login hardening (issue 13): `next` only ever names one of the portal's own pages (finding 3)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers.staff import PASSWORD, enrolled_staff, fresh_code, login

# What a browser makes of a Location header: it drops tabs and line breaks and treats "\" as "/".
OFF_SITE = [
    "/%09/evil.example/",
    "/%0a/evil.example/",
    "/%0d/evil.example/",
    "/%20/evil.example/",
    "/%5C/evil.example/",
    "/\\/evil.example/",
    "//evil.example/",
    "https://evil.example/",
    "/staff/../%09/evil.example/",
    "javascript:alert(1)",
    "/nowhere-on-this-site",
]


def _as_browser_sees(location: str) -> str:
    return re.sub(r"[\t\n\r]", "", location).replace("\\", "/")


def _login_with_next(client, user, secret, next_value: str):
    page = client.get(f"/staff/login?next={next_value}").get_data(as_text=True)
    carried = (re.search(r'name="next"[^>]*value="([^"]*)"', page)
               or re.search(r'value="([^"]*)"[^>]*name="next"', page))
    hidden = carried.group(1) if carried else unquote(next_value)
    response = client.post("/staff/login", data={"email": user.email, "password": PASSWORD, "next": hidden})
    assert response.status_code == 302
    return client.post("/staff/login/code", data={"code": fresh_code(secret, user.id)})


@pytest.mark.parametrize("next_value", OFF_SITE)
def test_after_login_next_never_leaves_the_portal(app, client, session, next_value):
    user, secret = enrolled_staff(session, app)
    response = _login_with_next(client, user, secret, next_value)
    location = _as_browser_sees(response.headers["Location"])
    target = urlsplit(location)
    assert not target.scheme and not target.netloc and not location.startswith("//"), location
    assert location == "/staff/", location


def test_next_still_brings_staff_back_to_the_page_they_asked_for(app, client, session):
    user, secret = enrolled_staff(session, app)
    response = _login_with_next(client, user, secret, "/staff/dashboard")
    assert response.headers["Location"] == "/staff/dashboard"
    client.post("/staff/logout")
    response = _login_with_next(client, user, secret, "/staff/?status=open")
    assert response.headers["Location"] == "/staff/?status=open"


def test_reauthentication_next_never_leaves_the_portal(app, client, session):
    user, secret = enrolled_staff(session, app)
    login(client, user, secret)
    response = client.post(
        "/staff/reauthenticate",
        data={"password": PASSWORD, "code": fresh_code(secret, user.id), "next": "/\t/evil.example/"},
    )
    assert response.status_code == 302 and _as_browser_sees(response.headers["Location"]) == "/staff/"
