"""S19, "no 500 page from anything a user can type": every route, GET and POST, anonymous and as a
logged-in admin, with hostile values in the path, the query string and the form. Runs on SQLite and
PostgreSQL (which refuses NUL bytes outright, so it finds what SQLite lets through)."""
from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from flask import url_for

from dsr.models import RequestStatus, StaffRole
from tests.helpers.staff import enrolled_staff, login

HOSTILE = ["\x00", "../../etc/passwd", "' OR 1=1 --", "<script>alert(1)</script>", "ø" * 3000, "-1",
           "99999999999999999999999", "\r\nBcc: victim@example.org", "%00", "\ud800"[:0] + "\u202e", " "]
QUERY_KEYS = ("q", "lang", "after", "right", "status", "assignee", "page", "overdue", "sort", "next")
FORM_KEYS = ("email", "phone", "full_name", "code", "message", "reason", "text", "password", "totp", "note-text",
             "received_date", "received_time", "right", "channel", "language", "identity", "how", "role",
             "assignee_id", "outcome", "law", "new_password", "confirm")


def _routes(app, method: str):
    for rule in app.url_map.iter_rules():
        if method in rule.methods and rule.endpoint != "static":
            yield rule


def _url(app, rule, value: str) -> str:
    values = {}
    for name, converter in rule._converters.items():
        values[name] = "1" if "Integer" in type(converter).__name__ else "PLACEHOLDER"
    with app.test_request_context():
        url = url_for(rule.endpoint, **values)
    return url.replace("PLACEHOLDER", quote(value, safe=""))


def _sweep(app, client, label: str) -> list[str]:
    problems = []
    for value in HOSTILE:
        query = urlencode({key: value for key in QUERY_KEYS})
        for rule in _routes(app, "GET"):
            url = f"{_url(app, rule, value)}?{query}"
            status = client.get(url).status_code
            if status >= 500:
                problems.append(f"{label} GET {rule.rule} [{value[:20]!r}] -> {status}")
        form = {key: value for key in FORM_KEYS}
        for rule in _routes(app, "POST"):
            if rule.endpoint == "auth.logout":
                continue  # keep the session for the rest of the sweep
            status = client.post(_url(app, rule, value), data=form).status_code
            if status >= 500:
                problems.append(f"{label} POST {rule.rule} [{value[:20]!r}] -> {status}")
    return problems


@pytest.mark.slow
def test_no_route_answers_5xx_to_hostile_input(app, session, make_request):
    make_request(status=RequestStatus.OPEN)  # id 1 exists, so case pages get past their 404
    anonymous = app.test_client()
    problems = _sweep(app, anonymous, "anonymous")
    admin, secret = enrolled_staff(session, app, StaffRole.ADMIN)
    staff = app.test_client()
    login(staff, admin, secret)
    problems += _sweep(app, staff, "admin")
    assert not problems, "\n".join(problems[:40])


def test_a_nul_byte_is_refused_with_a_clear_message_before_any_view(client):
    for response in (client.get("/staff/?q=a%00b&lang=en"),
                     client.post("/staff/login?lang=en", data={"email": "a\x00@example.org", "password": "x"})):
        assert response.status_code == 400 and b"NUL byte" in response.data
    assert client.get("/verify/abc%00def").status_code == 404  # no such page can exist
