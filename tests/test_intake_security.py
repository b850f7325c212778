"""The subject side under attack or trouble: no enumeration, CSRF, GET never writes, no PII where it must
not be, abuse limits that hold (and are configuration), and a Redis outage that changes nothing for them."""

from __future__ import annotations

import logging
import re

import pytest
import redis as redis_lib
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, orm

from dsr import create_app, links
from dsr.db import get_db
from dsr.models import AuditEvent, Message, OutboxJob, RequestStatus, SubjectRequest
from dsr.queue.broker import EmbeddedRedis
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, sms_lines, text_of
from tests.helpers.people import KARI, file_request, use_directory

UNKNOWN = "nobody.at.all@example.org"


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def _mask(body: bytes, *secrets: str) -> bytes:
    body = re.sub(
        rb'name="(csrf_token|intake_key)" type="hidden" value="[^"]*"', rb'name="\1" value="*"', body
    )
    for secret in secrets:
        body = body.replace(secret.encode(), b"*")
    return body


def _headers(response) -> list[tuple[str, str]]:
    # Cookie values differ per browser (signed, timestamped); their names and attributes may not.
    return [(k, re.sub(r"=[^;]*", "=*", v, count=1) if k == "Set-Cookie" else v) for k, v in response.headers]


def test_known_and_unknown_addresses_get_byte_identical_answers(app_config):
    app_config["WTF_CSRF_ENABLED"] = True
    app = create_app(app_config)
    answers = []
    for address in (KARI["email"], UNKNOWN):
        client = app.test_client()
        form = client.get("/request/erasure?lang=en").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        data = {
            "csrf_token": token,
            "email": address,
            "full_name": "",
            "phone": "",
            "intake_key": "k" * 31 + address[0],
        }
        check = client.post("/request/erasure", data=data)
        sent = client.post("/request/erasure/send", data=data)
        received = client.get(sent.headers["Location"])
        with get_db(app).session() as session:
            filed = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
        answers.append((check, sent, received, address, (filed.reference, filed.public_id)))
    (check_a, sent_a, page_a, addr_a, ref_a), (check_b, sent_b, page_b, addr_b, ref_b) = answers
    assert check_a.status_code == check_b.status_code == 200
    assert _mask(check_a.data, addr_a) == _mask(check_b.data, addr_b)
    assert (sent_a.status_code, _headers(sent_a), sent_a.data) == (
        sent_b.status_code,
        _headers(sent_b),
        sent_b.data,
    )
    assert page_a.status_code == page_b.status_code == 200
    assert _mask(page_a.data, *ref_a) == _mask(page_b.data, *ref_b)
    assert _headers(page_a) == _headers(page_b)
    # The same letter goes to both; whether anyone knows the address is decided later, in the job.
    run_jobs(app)
    letters = [text_of(mails_to(app, a)[0]) for a in (addr_a, addr_b)]
    normalise = [
        re.sub(r"\b\d{6}\b|/verify/link/\S+|/verify/[A-Za-z0-9_-]{22}", "*", t).replace(r[0], "*")
        for t, r in zip(letters, (ref_a, ref_b), strict=True)
    ]
    assert normalise[0] == normalise[1]
    get_db(app).dispose()


def test_a_post_without_csrf_token_is_refused_and_stores_nothing(app_config):
    app_config["WTF_CSRF_ENABLED"] = True
    app = create_app(app_config)
    response = file_request(app.test_client(), "access")
    assert response.status_code == 400 and "The form expired" in response.get_data(as_text=True)
    with get_db(app).session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0
    get_db(app).dispose()


def _verified_case(app, client, session, right="access", email=KARI["email"]) -> SubjectRequest:
    file_request(client, right, email=email)
    run_jobs(app)
    request = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
    client.post(f"/verify/{request.public_id}", data={"code": code_in(text_of(mails_to(app, email)[-1]))})
    run_jobs(app)
    if sms_lines(app):
        client.post(
            f"/verify/{request.public_id}/phone", data={"code": code_in(sms_lines(app)[-1].split("\t")[-1])}
        )
    session.expire_all()
    return session.get(SubjectRequest, request.id)


def test_get_never_writes_on_any_subject_page(app, client, session):
    case = _verified_case(app, client, session)
    assert case.status is RequestStatus.OPEN
    pending = file_request(client, "erasure", email="ola@example.org")
    assert pending.status_code == 303
    other = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()

    with app.test_request_context():
        letter = session.scalars(sa.select(Message.id).where(Message.request_id == case.id)).first()
        case_token, verify_token = (
            links.case_token(case.public_id, letter),
            links.verify_token(other.public_id, "x" * 22),
        )
    flushes: list[str] = []

    def count(session_, context, instances):
        if session_.new or session_.dirty or session_.deleted:
            flushes.append(str(list(session_.dirty or session_.new)))

    event.listen(orm.Session, "before_flush", count)
    try:
        pages = [
            "/",
            "/request",
            "/request/access",
            "/request/withdraw-consent",
            "/request/received",
            f"/verify/{other.public_id}",
            f"/verify/{other.public_id}/checking",
            f"/verify/{other.public_id}/phone",
            f"/verify/link/{verify_token}",
            f"/case/{case.public_id}",
            f"/case/{case.public_id}/withdraw",
            f"/case/open/{case_token}",
            f"/case/open/{case_token}/code",
            "/healthz",
        ]
        before = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        for path in pages:
            assert client.get(path).status_code in (200, 303, 302, 404), path
        assert flushes == []
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before
        client.post(
            f"/case/{case.public_id}/reply", data={"message": "Hello"}
        )  # the listener does see writes
        assert flushes
    finally:
        event.remove(orm.Session, "before_flush", count)


def test_no_personal_data_in_logs_audit_or_job_arguments(app, client, session, caplog):
    canary_email, canary_name, canary_phone = "canary.kari@example.org", "Canary Nordmann", "+4799887766"
    caplog.set_level(logging.DEBUG)
    file_request(client, "access", email=canary_email, full_name=canary_name, phone="998 87 766", consent="x")
    run_jobs(app)
    request = session.scalars(sa.select(SubjectRequest)).one()
    code = code_in(text_of(mails_to(app, canary_email)[0]))
    client.post(f"/verify/{request.public_id}", data={"code": "000000" if code != "000000" else "111111"})
    client.post(f"/verify/{request.public_id}", data={"code": code})
    run_jobs(app)
    canaries = [canary_email, "canary", canary_name, canary_phone, "99887766", code]
    audit = " ".join(str(e.details) + str(e.actor_id) for e in session.scalars(sa.select(AuditEvent)))
    job_args = " ".join(str(r.args) for r in session.scalars(sa.select(OutboxJob)))
    connection = redis_lib.Redis.from_url(app.config["REDIS_URL"])
    rq_dump = b" ".join(str(connection.hgetall(key)).encode() for key in connection.keys("rq:job:*"))
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for canary in canaries:
        assert canary.lower() not in audit.lower(), canary
        assert canary.lower() not in job_args.lower(), canary
        assert canary.lower().encode() not in rq_dump.lower(), canary
        assert canary.lower() not in logs.lower(), canary
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.body_text.contains(code))
        )
        == 0
    )


def test_intake_limits_hold_per_ip_and_per_address_and_are_configuration(app, client, session):
    app.config["RATE_LIMITS"] = {"intake_ip": "2/3600", "intake_address": "100/60"}
    statuses = [file_request(client, "access", email=f"p{n}@example.org").status_code for n in range(3)]
    assert statuses == [303, 303, 429]
    refused = file_request(client, "access", email="p9@example.org")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    assert "We cannot take your request just now" in refused.get_data(as_text=True)  # answers kept (finding 16)
    assert len(session.scalars(sa.select(SubjectRequest)).all()) == 2

    app.config["RATE_LIMITS"] = {"intake_ip": "100/60", "intake_address": "1/86400"}
    assert file_request(client, "access", email="same@example.org").status_code == 303
    assert file_request(client, "access", email="Same@Example.org").status_code == 429  # one mailbox (finding 6)
    assert file_request(client, "access", email="same@EXAMPLE.org").status_code == 429  # domain is normalised

    app.config["RATE_LIMITS"] = {
        "intake_ip": "1000/60",
        "intake_address": "1000/60",
    }  # a load test raises them
    assert all(file_request(client, "access", email=f"q{n}@example.org").status_code == 303 for n in range(5))


def test_code_entry_and_resend_are_limited_per_ip_and_per_address(app, client, session):
    file_request(client, "access")
    run_jobs(app)
    request = session.scalars(sa.select(SubjectRequest)).one()
    app.config["RATE_LIMITS"] = {"code_entry_ip": "3/600", "code_entry_address": "100/600"}
    statuses = [
        client.post(f"/verify/{request.public_id}", data={"code": "000001"}).status_code for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    app.config["RATE_LIMITS"] = {"code_entry_ip": "100/600", "code_entry_address": "1/600"}
    other = app.test_client()
    assert other.post(f"/verify/{request.public_id}", data={"code": "000001"}).status_code == 429
    app.config["RATE_LIMITS"] = {"resend_ip": "1/3600", "resend_address": "100/600"}
    assert client.post(f"/verify/{request.public_id}/resend").status_code in (200, 429)
    assert client.post(f"/verify/{request.public_id}/resend").status_code == 429


def test_with_redis_down_intake_still_works_and_the_outbox_keeps_the_jobs(app_config, tmp_path):
    private = EmbeddedRedis(tmp_path / "private-redis")
    app_config.update(REDIS_URL=private.url, RATE_LIMITS={"intake_ip": "2/3600"})  # nobody listens there yet
    app = create_app(app_config)
    client = app.test_client()
    statuses = [file_request(client, "access", email=f"r{n}@example.org").status_code for n in range(3)]
    assert statuses == [303, 303, 429]  # stored, answered, and the limiter fell back to memory
    assert client.get("/request/received?lang=en").status_code == 200
    with get_db(app).session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 2
        assert (
            session.scalar(
                sa.select(sa.func.count()).select_from(OutboxJob).where(OutboxJob.published_at.is_(None))
            )
            == 4
        )  # two letters, two lookups
    private.start()  # Redis returns: the sweep publishes what waited, the mails go out
    try:
        run_jobs(app)
        assert len(mails_to(app, "r0@example.org")) == len(mails_to(app, "r1@example.org")) == 1
    finally:
        private.stop()
        get_db(app).dispose()


_FIELD_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300
) | st.sampled_from(["", "a@b.no", "+47 912 34 567", "x" * 2001, "a\r\nBcc: y@z.no", "\x00", "'\";--"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    email=_FIELD_TEXT,
    phone=_FIELD_TEXT,
    name=_FIELD_TEXT,
    wrong=_FIELD_TEXT,
    correct=_FIELD_TEXT,
    right=st.sampled_from(["rectification", "objection", "withdraw_consent", "restriction"]),
)
def test_whatever_is_typed_the_answer_is_never_a_server_error(
    client, email, phone, name, wrong, correct, right
):
    data = {
        "email": email,
        "phone": phone,
        "full_name": name,
        "wrong": wrong,
        "correct": correct,
        "consent": wrong,
        "processing": correct,
        "processing_text": wrong,
        "reason": correct,
        "ground": wrong,
    }
    assert client.post(f"/request/{right.replace('_', '-')}", data=data).status_code in (200, 400)
    assert file_request(client, right, **data).status_code in (303, 400, 429)


def test_an_oversized_body_is_refused_without_a_server_error(client, session):
    body = {"email": KARI["email"], "full_name": "x" * (2 * 1024 * 1024)}
    assert client.post("/request/erasure/send", data=body).status_code == 413
    response = client.post("/request/erasure/send", data={**body, "full_name": "x" * (300 * 1024)})
    assert response.status_code == 400 and 'id="full_name-error"' in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0
