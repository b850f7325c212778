"""Helpers for the tests of the answers a DPO gives (issue 15): a subject files through the real form and
proves the e-mail code in their own browser; an officer logs in through the real pages."""
from __future__ import annotations

import sqlalchemy as sa

from dsr.models import AuditEvent, Message, RequestStatus, StaffRole, SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, text_of
from tests.helpers.people import file_request
from tests.helpers.staff import enrolled_staff, login


def file_and_open(app, client, session, email: str, right: str = "access", lang: str = "en") -> SubjectRequest:
    """File a request on the form, run the jobs (the acknowledgement, the lookup) and give the e-mail code back
    in `client`. With no phone on file the e-mail alone opens the case, and `client` may see its page."""
    assert file_request(client, right, email=email, lang=lang).status_code == 303
    run_jobs(app)
    case = session.scalars(sa.select(SubjectRequest).where(SubjectRequest.email == email)
                           .order_by(SubjectRequest.id.desc())).first()
    response = client.post(f"/verify/{case.public_id}", data={"code": code_in(text_of(mails_to(app, email)[-1]))})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    session.expire_all()
    case = session.get(SubjectRequest, case.id)
    assert case.status is RequestStatus.OPEN
    return case


def officer_client(app, session, role: StaffRole = StaffRole.OFFICER):
    """(a logged-in test client, the staff user)"""
    user, secret = enrolled_staff(session, app, role)
    client = app.test_client()
    login(client, user, secret)
    return client, user


def letters(session, case: SubjectRequest, template: str) -> list[Message]:
    session.expire_all()
    return list(session.scalars(sa.select(Message).where(Message.request_id == case.id, Message.template == template)
                                .order_by(Message.id)))


def audit_actions(session, case: SubjectRequest) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == case.id)
                                .order_by(AuditEvent.seq)))
