"""Helpers for the tests of an answer's shape (tailored pages, parts, redactions, delta bundles, portability
to a receiver): cases on the demo systems collected by real jobs, staff logged in through the real pages,
and the released bundles read back through the staff preview. Imported by name."""
from __future__ import annotations

import io
import json
import re
import zipfile

import sqlalchemy as sa

from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.export.delivery import open_staff_preview
from dsr.export.manual import complete_manual_task
from dsr.export.release import release_to_subject
from dsr.models import ExportBundle, RequestStatus, Right, StaffRole, SubjectRequest
from tests.helpers.export import approve, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.staff import enrolled_staff, login

#: in the demo data, in accounting and the newsletter only: not in the CRM (declared first), not in the support chat
IN_TWO_SYSTEMS = "oystein.larsen@example.no"


def verified_case(app, session, email: str, right: Right = Right.ACCESS, language: str = "en",
                  **values) -> SubjectRequest:
    """A verified case of `email`, open for triage, with its legal deadline."""
    case = SubjectRequest(email=email, status=RequestStatus.OPEN, right=right, language=language,
                          verified_at=utcnow(), identity_method="email_code", **values)
    session.add(case)
    session.flush()
    refresh_deadlines(case, app.extensions["dsr.controller"])
    session.commit()
    return case


def collected(app, session, case: SubjectRequest, staff_id: int, *, mailbox: bytes | None = None) -> SubjectRequest:
    """Approve the case, run the export jobs, record the shared mailbox (an upload, or nothing found), run the
    assembly: the case waits for review (unless a system failed)."""
    approve(session, case)
    run_jobs(app)
    task = tasks_by_system(session, case.id)["mailbox"]
    upload = None
    if mailbox is not None:
        upload = io.BytesIO(mailbox)
        upload.filename = "mailbox.mbox"
    complete_manual_task(session, task.id, staff_id, nothing_found=mailbox is None, upload=upload)
    session.commit()
    run_jobs(app)
    session.expire_all()
    return session.get(SubjectRequest, case.id)


def released(app, session, case_id: int, staff_id: int) -> ExportBundle:
    """Release the bundle under review as the release page does, and run the jobs it queued (the letter, the
    digests of an access bundle)."""
    session.expire_all()
    bundle = release_to_subject(session, case_id, staff_id)
    session.commit()
    run_jobs(app)
    session.expire_all()
    return session.get(ExportBundle, bundle.id)


def officer_client(app, session):
    """A logged-in officer's test client (its user on `.user`)."""
    user, secret = enrolled_staff(session, app, StaffRole.OFFICER)
    client = app.test_client()
    login(client, user, secret)
    client.user = user
    return client


def bundles_of(session, case_id: int) -> list[ExportBundle]:
    session.expire_all()
    return list(session.scalars(sa.select(ExportBundle).where(ExportBundle.request_id == case_id)
                                .order_by(ExportBundle.part)))


def archive_of(session, bundle: ExportBundle, staff_id: int) -> zipfile.ZipFile:
    """The bundle's ZIP, decrypted through the staff preview."""
    data = b"".join(open_staff_preview(session, bundle.id, staff_id).chunks)
    session.commit()
    return zipfile.ZipFile(io.BytesIO(data))


def records(archive: zipfile.ZipFile, path: str) -> list[dict]:
    return json.loads(archive.read(path))


def page_text(archive: zipfile.ZipFile, path: str) -> str:
    """An HTML member's text, tags removed, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", archive.read(path).decode()).split())
