"""Issue 15: after approval, "we hold no data about you" waits until every system was searched, a person's
search of the shared mailbox included; the answer then replaces the release, and the bundle assembled for
review (which holds nothing about the subject) is deleted, never released."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from dsr.cases.decisions import DecisionError
from dsr.export import storage
from dsr.export.manual import complete_manual_task
from dsr.export.no_data import answer_no_data
from dsr.models import BundleStatus, ExportBundle, RequestStatus, Right, StaffRole, SubjectRequest
from tests.helpers.export import approve, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.staff import enrolled_staff


def _stored(app, bundle: ExportBundle) -> bool:
    try:
        storage.get_store(app).size(storage.bundle_key(bundle.storage_name))
    except FileNotFoundError:
        return False
    return True


def test_a_search_that_found_nothing_anywhere_is_answered_and_its_empty_bundle_deleted(
        demo_app, demo_session):
    """The demo systems include a shared mailbox a person searches: the answer waits for that search."""
    app, session = demo_app, demo_session
    staff, _ = enrolled_staff(session, app, StaffRole.OFFICER)
    case = SubjectRequest(email="ingen@example.org", status=RequestStatus.OPEN, right=Right.ACCESS, language="nb")
    session.add(case)
    session.commit()
    approve(session, case)
    run_jobs(app)
    with app.test_request_context(), force_locale("en"), pytest.raises(  # staff who read English
            DecisionError, match="Not every system has been searched: Shared mailbox"):
        answer_no_data(session, case, actor=staff, note=None)
    session.rollback()

    complete_manual_task(session, tasks_by_system(session, case.id)["mailbox"].id, staff.id, nothing_found=True)
    session.commit()
    run_jobs(app)
    session.expire_all()
    case = session.get(SubjectRequest, case.id)
    assert case.status is RequestStatus.READY_FOR_REVIEW
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == case.id))
    assert bundle.status is BundleStatus.READY_FOR_REVIEW and _stored(app, bundle)

    with app.test_request_context():
        letter = answer_no_data(session, case, actor=staff, note=None)
        session.commit()
    assert "Kunderegister (CRM)" in letter.body_text and "Ingen av dem inneholder" in letter.body_text
    session.expire_all()
    bundle = session.get(ExportBundle, bundle.id)
    assert bundle.deleted_at is not None and bundle.released_at is None
    assert not _stored(app, bundle)
    assert session.get(SubjectRequest, case.id).status is RequestStatus.COMPLETED
