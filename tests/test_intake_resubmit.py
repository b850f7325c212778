"""Back after Send never files the request twice (issue 13, finding 15). The browser's own sequence, through
the test client: the form, check your answers, Send (303 to "received": Post/Redirect/Get), Back to the check
page, reload (the browser posts the form again), Send. The check page's idempotency key is the same for the
same answers in the same browser, so the second Send finds the first case."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from dsr.models import SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import mails_to
from tests.helpers.people import KARI, use_directory

ANSWERS = {"wrong": "My address", "correct": "Storgata 1, 0155 Oslo", "full_name": "Kari Nordmann",
           "email": KARI["email"], "phone": ""}


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def _requests(session) -> list[SubjectRequest]:
    session.expire_all()
    return list(session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id)))


def _check_page(browser, answers=ANSWERS) -> dict[str, str]:
    """POST the form (as "Continue" or a reload of the check page does); the check page's hidden fields."""
    page = browser.post("/request/rectification?lang=en", data=answers)
    assert page.status_code == 200 and "Check your answers" in page.get_data(as_text=True)
    fields = re.findall(r'<input[^>]*\bname="([a-z_]+)"[^>]*\bvalue="([^"]*)"', page.get_data(as_text=True))
    return {name: html.unescape(value) for name, value in fields}


def _send(browser, hidden: dict[str, str]) -> str:
    """Press Send: 303 to the received page (never a page answering the POST itself); its reference."""
    sent = browser.post("/request/rectification/send?lang=en", data=hidden)
    assert sent.status_code == 303 and sent.headers["Location"] == "/request/received"
    received = browser.get("/request/received?lang=en")
    assert received.status_code == 200 and "Request received" in received.get_data(as_text=True)
    return re.search(r'class="reference">([A-Z0-9-]+)<', received.get_data(as_text=True)).group(1)


def test_send_back_reload_send_gives_the_same_case(app, client, session):
    assert client.get("/request/rectification?lang=en").status_code == 200
    first = _check_page(client)
    reference = _send(client, first)
    again = _check_page(client)  # Back, then reload: the browser posts the form once more
    assert again["intake_key"] == first["intake_key"]
    assert _send(client, again) == reference
    assert [r.reference for r in _requests(session)] == [reference]
    run_jobs(app)
    assert len(mails_to(app, KARI["email"])) == 1  # one acknowledgement, one code


def test_send_back_send_without_a_reload_gives_the_same_case(app, client, session):
    hidden = _check_page(client)
    reference = _send(client, hidden)
    assert _send(client, hidden) == reference  # Back shows the page from the browser's cache
    assert len(_requests(session)) == 1


def test_a_second_send_of_the_same_answers_is_not_counted_as_another_filing(app, client, session):
    app.config["RATE_LIMITS"] = {"intake_ip": "1/3600"}
    hidden = _check_page(client)
    reference = _send(client, hidden)
    assert _send(client, _check_page(client)) == reference  # not refused: nothing new is filed
    assert len(_requests(session)) == 1


def test_other_answers_or_another_browser_file_another_request(app, client, session):
    first = _check_page(client)
    _send(client, first)
    changed = _check_page(client, {**ANSWERS, "correct": "Storgata 2, 0155 Oslo"})
    assert changed["intake_key"] != first["intake_key"]
    _send(client, changed)
    other_browser = app.test_client()
    elsewhere = _check_page(other_browser)
    assert elsewhere["intake_key"] != first["intake_key"]
    _send(other_browser, elsewhere)
    assert len(_requests(session)) == 3
