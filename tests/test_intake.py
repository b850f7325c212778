"""Filing a request: the pages, check your answers, received only after commit, the letter, bad input."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsr.models import AuditEvent, OutboxJob, RequestStatus, Right, SubjectRequest, VerificationChallenge
from tests.directory_connector import KARI, code_in, file_request, link_in, mails_to, text_of, use_directory
from tests.support import run_jobs


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def test_smoke_filing_and_verifying(app, client, session):
    response = file_request(client, "access")
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    run_jobs(app)
    (mail,) = mails_to(app, KARI["email"])
    code = code_in(text_of(mail))
    request = session.scalars(sa.select(SubjectRequest)).one()
    r = client.post(f"/verify/{request.public_id}", data={"code": code})
    print(r.status_code, r.headers.get("Location"))
    run_jobs(app)
