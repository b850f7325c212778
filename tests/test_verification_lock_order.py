"""A subject typing their e-mail code while a job holds their request and appends to the audit trail (as the
lookup job does when it finishes) gets their case, not an error page: found by bench/load.py, where 3 of 200
code entries deadlocked with lookups on PostgreSQL and were answered 503."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from dsr.audit.service import record
from dsr.db import get_db, utcnow
from dsr.models import RequestStatus, SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, text_of
from tests.helpers.people import OLA, file_request, use_directory
from tests.helpers.skips import skip_reason

EMAIL = OLA["email"]  # on file in the CRM, without a phone: the e-mail code alone opens the case


@pytest.fixture
def directory(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")


def _waiting_on_a_lock(engine) -> bool:
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar() > 0


def test_code_entered_while_a_job_holds_the_request_and_audits_opens_the_case(directory, app, client, session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip(skip_reason("postgresql", "row and advisory locks that can deadlock exist on PostgreSQL only"))
    assert file_request(client, "access", email=EMAIL).status_code == 303
    run_jobs(app)  # the acknowledgement with the code, and the lookup
    case = session.scalars(sa.select(SubjectRequest).where(SubjectRequest.email == EMAIL)).one()
    code = code_in(text_of(mails_to(app, EMAIL)[-1]))
    engine = get_db(app).engine

    with get_db(app).session() as job:
        # The job's own change to the request is flushed (its row is locked) before it audits.
        job.execute(sa.update(SubjectRequest).where(SubjectRequest.id == case.id).values(updated_at=utcnow()))
        answers = []
        subject = threading.Thread(target=lambda: answers.append(
            client.post(f"/verify/{case.public_id}", data={"code": code})))
        subject.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock(engine):
            assert time.monotonic() < deadline, "the code POST never waited for the job"
            time.sleep(0.05)
        record(job, "request.located", actor_type="system", request_id=case.id, systems=0, found=0, failed=0,
               phone_on_file=False)
        job.commit()
    subject.join(15)

    assert answers and answers[0].status_code == 303, answers and answers[0].status_code
    session.expire_all()
    assert session.get(SubjectRequest, case.id).status is RequestStatus.OPEN
