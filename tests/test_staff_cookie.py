"""Staff have their own session cookie, SameSite=Strict, separate from the subject's Lax one (issue 13,
finding 19; SECURITY-PLAN S12): a link from another site never carries a staff session along."""

from __future__ import annotations

from dsr import create_app
from tests.helpers.staff import enrolled_staff, login


def _set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def _attributes(header: str) -> dict[str, str]:
    parts = [part.strip() for part in header.split(";")[1:]]
    return {part.split("=")[0].lower(): (part.split("=", 1)[1] if "=" in part else "") for part in parts}


def test_the_staff_session_is_its_own_strict_cookie(app, client, session):
    subject_page = client.get("/?lang=nb")  # the language choice lives in the subject's session
    subject_cookie = _set_cookies(subject_page)["dsr"]
    assert _attributes(subject_cookie)["samesite"] == "Lax"

    user, secret = enrolled_staff(session, app)
    response = login(client, user, secret)
    cookies = _set_cookies(response)
    assert "dsr" not in cookies  # logging in never touches the subject's cookie
    staff = _attributes(cookies["dsr-staff"])
    assert staff["samesite"] == "Strict" and "httponly" in staff and staff["path"] == "/"
    assert client.get("/staff/").status_code == 200

    # The subject's cookie holds no staff login: replayed alone on a staff page, it is nobody.
    stranger = app.test_client()
    stranger.set_cookie("dsr-staff", client.get_cookie("dsr").value)
    assert stranger.get("/staff/").status_code == 302
    alone = app.test_client()
    alone.set_cookie("dsr", client.get_cookie("dsr-staff").value)
    assert alone.get("/staff/").status_code == 302


def test_production_names_both_cookies_host_only_and_secure(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": "s" * 48,
                      "AUDIT_KEY": "a" * 43, "REDIS_URL": "unix:///nonexistent/redis.sock"})
    client = app.test_client()
    subject = _set_cookies(client.get("/?lang=nb", base_url="https://portal.example"))
    staff = _set_cookies(client.get("/staff/login", base_url="https://portal.example"))
    assert set(subject) == {"__Host-dsr"} and set(staff) == {"__Host-dsr-staff"}
    for header, same_site in ((subject["__Host-dsr"], "Lax"), (staff["__Host-dsr-staff"], "Strict")):
        attributes = _attributes(header)
        assert attributes["samesite"] == same_site and attributes["path"] == "/"
        assert "secure" in attributes and "httponly" in attributes and "domain" not in attributes
