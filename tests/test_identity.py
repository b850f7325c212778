"""One-time codes and links: HMAC at rest, five tries then burned, ten minutes, consumed once, bound to the
browser, limited resends; links consumed only by their confirm page's POST; a restart changes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from dsr import create_app, links
from dsr.db import get_db, utcnow
from dsr.identity import codes as identity_codes
from dsr.identity.codes import CodeLimitReached, CodeOutcome
from dsr.models import (
    ChallengeChannel,
    ChallengePurpose,
    RequestStatus,
    SubjectRequest,
    VerificationChallenge,
)
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, link_in, mails_to, text_of
from tests.helpers.people import KARI, OLA, file_request, use_directory


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def _filed(app, client, session, right="erasure", email=KARI["email"], lang="en") -> tuple[SubjectRequest, str]:
    answers = {"consent": "The newsletter"} if right == "withdraw_consent" else {}
    assert file_request(client, right, email=email, lang=lang, **answers).status_code == 303
    run_jobs(app)
    session.expire_all()
    request = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
    return request, text_of(mails_to(app, email)[-1])


def _refresh(session, request) -> SubjectRequest:
    session.expire_all()
    return session.get(SubjectRequest, request.id)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_codes_are_stored_only_as_a_keyed_hmac(app, client, session):
    _request, mail = _filed(app, client, session)
    code = code_in(mail)
    dump = " ".join(
        str(v)
        for table in (
            "verification_challenges",
            "messages",
            "subject_requests",
            "audit_events",
            "outbox_jobs",
        )
        for row in session.execute(sa.text(f"SELECT * FROM {table}"))
        for v in row
    )
    assert code not in dump
    challenge = session.scalars(sa.select(VerificationChallenge)).one()
    assert len(challenge.code_hmac) == 64 and challenge.expires_at - challenge.created_at == timedelta(
        minutes=10
    )


def test_the_sixth_try_fails_even_with_the_right_code(app, client, session):
    request, mail = _filed(app, client, session, right="withdraw_consent")
    code = code_in(mail)
    for _ in range(5):
        page = client.post(f"/verify/{request.public_id}?lang=en", data={"code": _wrong(code)})
        assert page.status_code == 400
    assert "too many tries" in page.get_data(as_text=True)
    assert client.post(f"/verify/{request.public_id}", data={"code": code}).status_code == 400
    assert _refresh(session, request).status is RequestStatus.AWAITING_VERIFICATION
    challenge = session.scalars(sa.select(VerificationChallenge)).one()
    assert challenge.attempts == 5 and challenge.burned_at is not None and challenge.consumed_at is None


@pytest.mark.parametrize(("language", "blocked", "used"), [
    ("en", "This code was blocked after too many tries", "already been used"),
    ("nb", "Denne koden ble sperret etter for mange forsøk", "allerede brukt"),
])
def test_the_link_of_a_code_blocked_after_too_many_tries_says_so(app, client, session, language, blocked, used):
    request, mail = _filed(app, client, session, right="withdraw_consent", lang=language)
    path = link_in(mail)
    for _ in range(5):
        client.post(f"/verify/{request.public_id}?lang={language}", data={"code": _wrong(code_in(mail))})
    other_device = app.test_client()
    page = other_device.get(f"{path}?lang={language}").get_data(as_text=True)
    assert blocked in page and used not in page
    refused = other_device.post(f"{path}?lang={language}")
    assert refused.status_code == 410 and blocked in refused.get_data(as_text=True)
    assert _refresh(session, request).status is RequestStatus.AWAITING_VERIFICATION


def test_wrong_tries_say_how_many_are_left(app, client, session):
    request, mail = _filed(app, client, session)
    page = client.post(f"/verify/{request.public_id}?lang=en", data={"code": _wrong(code_in(mail))})
    assert "You can try 4 more times" in page.get_data(as_text=True)
    assert "Enter the code as 6 digits" in client.post(
        f"/verify/{request.public_id}", data={"code": "12ab"}
    ).get_data(as_text=True)
    assert (
        session.scalars(sa.select(VerificationChallenge)).one().attempts == 1
    )  # a typo of the format is free


def test_an_expired_code_fails(app, client, session):
    request, mail = _filed(app, client, session, right="withdraw_consent")
    with time_machine.travel(utcnow() + timedelta(minutes=10, seconds=1), tick=False):
        page = client.post(f"/verify/{request.public_id}?lang=en", data={"code": code_in(mail)})
    assert page.status_code == 400 and "That code has expired" in page.get_data(as_text=True)
    assert _refresh(session, request).status is RequestStatus.AWAITING_VERIFICATION
    with time_machine.travel(utcnow() + timedelta(minutes=9), tick=False):
        assert client.post(f"/verify/{request.public_id}", data={"code": code_in(mail)}).status_code == 303


def test_a_code_works_only_in_the_browser_that_asked_for_it_and_only_for_its_request(app, client, session):
    request, mail = _filed(app, client, session, right="withdraw_consent")
    other_request, _other_mail = _filed(
        app, client, session, right="withdraw_consent", email="ola@example.org"
    )
    stranger = app.test_client()
    assert stranger.post(f"/verify/{request.public_id}", data={"code": code_in(mail)}).status_code == 400
    assert client.post(f"/verify/{other_request.public_id}", data={"code": code_in(mail)}).status_code == 400
    assert client.post(f"/verify/{request.public_id}", data={"code": code_in(mail)}).status_code == 303
    # verified: the case opens for staff (this consent is not one a system declares, so nothing stops by itself)
    assert _refresh(session, request).status is RequestStatus.OPEN


def test_a_link_works_once_and_a_get_alone_consumes_nothing(app, client, session):
    request, mail = _filed(app, client, session, right="withdraw_consent")
    path = link_in(mail)
    scanner = app.test_client()
    for _ in range(3):  # a mail scanner prefetching the link, a preview, a double click
        page = scanner.get(path + "?lang=en")
        assert page.status_code == 200 and "Confirm my e-mail address" in page.get_data(as_text=True)
    assert session.scalars(sa.select(VerificationChallenge)).one().consumed_at is None
    assert _refresh(session, request).status is RequestStatus.AWAITING_VERIFICATION

    phone = app.test_client()  # the subject opens the mail on another device: the link is proof enough
    used = phone.post(path)
    assert used.status_code == 303 and used.headers["Location"] == f"/case/{request.public_id}"
    assert _refresh(session, request).status is RequestStatus.OPEN
    assert app.test_client().post(path).status_code == 410  # used once: never again
    assert "This link has already been used" in scanner.get(path + "?lang=en").get_data(as_text=True)
    assert phone.get(f"/case/{request.public_id}").status_code == 200


def test_tampered_foreign_and_expired_links_are_refused(app, client, session):
    request, mail = _filed(app, client, session, right="withdraw_consent")
    path = link_in(mail)
    token = path.rsplit("/", 1)[1]
    assert client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")).status_code == 404
    with app.test_request_context():
        case_token = links.case_token(request.public_id, 1)  # signed by us, but for another purpose
    assert client.get(f"/verify/link/{case_token}").status_code == 404
    with time_machine.travel(utcnow() + timedelta(seconds=601), tick=False):
        page = client.get(f"/verify/link/{token}?lang=en")
        assert "This link has expired" in page.get_data(as_text=True)
        assert client.post(f"/verify/link/{token}").status_code == 410
    assert _refresh(session, request).status is RequestStatus.AWAITING_VERIFICATION


def test_twenty_parallel_right_answers_consume_the_code_exactly_once(app, client, session):
    request, mail = _filed(app, client, session, right="withdraw_consent")
    code = code_in(mail)
    binding = session.scalars(sa.select(VerificationChallenge)).one().browser_binding
    results: list[CodeOutcome] = []
    barrier = threading.Barrier(20)

    def attempt():
        barrier.wait(30)  # all at once; more than the pool holds, so some queue for a connection
        with app.app_context(), get_db(app).session() as own:
            result = identity_codes.check_code(
                own, own.get(SubjectRequest, request.id), ChallengePurpose.VERIFY, code, binding
            )
            own.commit()
            results.append(result.outcome)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results).count(CodeOutcome.OK) == 1 and len(results) == 20


def test_at_most_three_codes_a_day_sixty_seconds_apart_and_a_new_code_replaces_the_old(app, client, session):
    request, mail = _filed(app, client, session)
    first = code_in(mail)
    assert (
        client.post(f"/verify/{request.public_id}/resend?lang=en").status_code == 429
    )  # 60 s not yet passed
    start = utcnow()
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        page = client.post(f"/verify/{request.public_id}/resend?lang=en")
        assert page.status_code == 200 and "We have sent a new code" in page.get_data(as_text=True)
    with time_machine.travel(start + timedelta(seconds=125), tick=False):
        assert client.post(f"/verify/{request.public_id}/resend").status_code == 200
    with time_machine.travel(start + timedelta(seconds=190), tick=False):
        refused = client.post(f"/verify/{request.public_id}/resend?lang=en")
        assert refused.status_code == 429 and "the most codes we can send today" in refused.get_data(
            as_text=True
        )
        run_jobs(app)
        codes = [code_in(text_of(m)) for m in mails_to(app, KARI["email"])]
        assert len(codes) == 3 and codes[0] == first
        assert (
            client.post(f"/verify/{request.public_id}", data={"code": first}).status_code == 400
        )  # replaced
        assert client.post(f"/verify/{request.public_id}", data={"code": codes[-1]}).status_code == 303
    with time_machine.travel(start + timedelta(days=1, seconds=5), tick=False):
        with app.test_request_context():
            identity_codes.check_issue_limits(session, request, ChallengePurpose.VERIFY)  # a new day: allowed again


def test_issue_code_refuses_beyond_the_daily_limit_for_any_purpose(app, session, make_request):
    request = make_request(status=RequestStatus.OPEN)
    with app.test_request_context():
        start = utcnow()
        for n in range(3):
            with time_machine.travel(start + timedelta(minutes=2 * n), tick=False):
                identity_codes.issue_code(
                    session, request, ChallengePurpose.DOWNLOAD, ChallengeChannel.EMAIL, request.email
                )
        with (
            time_machine.travel(start + timedelta(minutes=7), tick=False),
            pytest.raises(CodeLimitReached) as refused,
        ):
            identity_codes.issue_code(
                session, request, ChallengePurpose.DOWNLOAD, ChallengeChannel.EMAIL, request.email
            )
    assert refused.value.daily and refused.value.retry_after > 23 * 3600


def test_a_request_filed_before_a_restart_can_still_be_verified(app_config, app, client, session):
    request, mail = _filed(app, client, session, right="withdraw_consent")
    cookie = client.get_cookie("dsr")
    restarted = create_app(app_config)  # a new process on the same database (the keys come from config)
    browser = restarted.test_client()
    browser.set_cookie("dsr", cookie.value)
    assert browser.post(f"/verify/{request.public_id}", data={"code": code_in(mail)}).status_code == 303
    assert _refresh(session, request).status is RequestStatus.OPEN

    second, second_mail = _filed(app, client, session, right="withdraw_consent", email=OLA["email"])
    again = create_app(app_config)
    assert again.test_client().post(link_in(second_mail)).status_code == 303  # the link needs no cookie
    assert _refresh(session, second).status is RequestStatus.OPEN
    get_db(restarted).dispose()
    get_db(again).dispose()
