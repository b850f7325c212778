"""The abuse limit keeps what the person typed (issue 13, finding 16): the sixth filing from one address in an
hour (an office behind one NAT address) gets the check-your-answers page back with every answer, how long to
wait in the page's language, and the controller's e-mail and phone as another way; Send then works once the
window has passed. Nothing is stored meanwhile."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from dsr.db import utcnow
from dsr.models import SubjectRequest
from tests.helpers.people import file_request, use_directory

ANSWERS = {"wrong": "Min adresse er feil", "correct": "Storgata 1 & 3, 0155 Oslo", "full_name": "Kari Nordmann",
           "email": "kari.nordmann@example.org", "phone": "912 34 567"}
CONTROLLER_EMAIL, CONTROLLER_PHONE = "personvern@fjordnett.example", "+47 22 00 00 00"  # the example file's


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def _count(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest))


def _hidden(page: str) -> dict[str, str]:
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input[^>]*\bname="([a-z_]+)"[^>]*\bvalue="([^"]*)"', page)}


def _sixth(client, lang: str):
    for n in range(5):  # five requests from this IP address this hour, for five people
        # (in the page's language: the test's app context would keep flask-babel's first locale)
        assert file_request(client, "access", email=f"colleague{n}@example.org", lang=lang).status_code == 303
    check = client.post(f"/request/rectification?lang={lang}", data=ANSWERS)
    return _hidden(check.get_data(as_text=True)), client.post(f"/request/rectification/send?lang={lang}",
                                                              data=_hidden(check.get_data(as_text=True)))


@pytest.mark.parametrize(("lang", "wait", "other_way"), [
    ("en", "Your answers are kept below. You can send them in 60 minutes.", "Or contact us another way"),
    ("nb", "Svarene dine er tatt vare på nedenfor. Du kan sende dem om 60 minutter.",
     "Eller ta kontakt med oss på en annen måte"),
])
def test_the_sixth_filing_in_an_hour_keeps_the_answers_says_how_long_and_offers_another_way(
        app, client, session, lang, wait, other_way):
    sent_hidden, refused = _sixth(client, lang)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    assert wait in page and other_way in page
    assert f'href="mailto:{CONTROLLER_EMAIL}"' in page and CONTROLLER_PHONE in page
    kept = _hidden(page)
    for name in ("wrong", "correct", "full_name", "email", "phone", "intake_key"):
        assert kept[name] == sent_hidden[name], name
    assert "Storgata 1 &amp; 3, 0155 Oslo" in page  # shown to check, escaped, as before
    assert 'action="/request/rectification/send"' in page  # the same Send button, ready for later
    assert _count(session) == 5

    with time_machine.travel(utcnow() + timedelta(minutes=61)):
        assert client.post("/request/rectification/send", data=kept).status_code == 303
    assert _count(session) == 6


def test_the_daily_limit_of_one_address_says_hours(app, client, session):
    for _ in range(3):
        assert file_request(client, "access", email=ANSWERS["email"]).status_code == 303
    check = client.post("/request/rectification?lang=en", data=ANSWERS)
    refused = client.post("/request/rectification/send?lang=en", data=_hidden(check.get_data(as_text=True)))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "You can send them in 24 hours." in page
    assert _hidden(page)["wrong"] == ANSWERS["wrong"] and _count(session) == 3
