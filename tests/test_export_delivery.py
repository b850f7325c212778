"""Release, the subject's download (own case only, expiring, counted, audited) and deletion at expiry."""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import force_locale

from dsr.db import get_db, utcnow
from dsr.export import delivery
from dsr.export.delivery import (
    BundleNotFound,
    BundleUnavailable,
    delete_expired_bundles,
    open_download_stream,
)
from dsr.export.manual import ManualTaskError, complete_manual_task
from dsr.export.release import ReleaseRefused, release_bundle
from dsr.models import (
    AuditEvent,
    BundleStatus,
    ExportBundle,
    RequestStatus,
    Right,
    StaffRole,
    StaffUser,
    SubjectRequest,
    TaskState,
)
from tests.helpers.export import KARI, approve, tasks_by_system
from tests.helpers.jobs import run_jobs


@pytest.fixture
def ready_bundle(demo_app, demo_session):
    session = demo_session
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ACCESS, language="en")
    session.add(request)
    session.commit()
    approve(session, request)
    run_jobs(demo_app)
    mailbox = tasks_by_system(session, request.id)["mailbox"]
    complete_manual_task(session, mailbox.id, 1, nothing_found=True)
    session.commit()
    run_jobs(demo_app)
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request.id))
    staff = StaffUser(email="officer@fjordnett.example", display_name="Officer", role=StaffRole.OFFICER,
                      password_hash="unused", must_change_password=False)
    session.add(staff)
    session.commit()
    return request, bundle, staff


def test_the_released_bundle_downloads_for_its_own_case_only(demo_app, demo_session, ready_bundle):
    request, bundle, staff = ready_bundle
    other = SubjectRequest(email="someone.else@example.no", status=RequestStatus.OPEN, right=Right.ACCESS)
    demo_session.add(other)
    demo_session.commit()
    with pytest.raises(BundleNotFound):
        open_download_stream(demo_session, request.id, bundle.download_id)  # not released yet
    release_bundle(demo_session, bundle.id, staff.id)
    demo_session.commit()
    assert request.status is RequestStatus.COMPLETED
    assert bundle.expires_at - bundle.released_at == timedelta(days=7)

    with pytest.raises(BundleNotFound):
        open_download_stream(demo_session, other.id, bundle.download_id)  # another subject's case: not found
    for wrong in ("../../etc/passwd", "%2e%2e%2f", "", bundle.download_id + "x"):
        with pytest.raises(BundleNotFound):
            open_download_stream(demo_session, request.id, wrong)

    download = open_download_stream(demo_session, request.id, bundle.download_id)
    demo_session.commit()
    data = b"".join(download.chunks)
    assert download.filename == f"{request.reference}-access.zip" and len(data) == download.size
    assert zipfile.ZipFile(io.BytesIO(data)).read("manifest.json")
    on_disk = (Path(demo_app.config["STORAGE_DIR"]) / "bundles" / bundle.storage_name).read_bytes()
    assert b"PK\x03\x04" not in on_disk and KARI.encode() not in on_disk  # encrypted at rest
    assert bundle.download_count == 1
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "bundle.downloaded", AuditEvent.request_id == request.id)) == 1
    with pytest.raises(ReleaseRefused):
        release_bundle(demo_session, bundle.id, staff.id)


def test_a_bundle_expires_and_is_deleted_by_the_scheduled_job(demo_app, demo_session, ready_bundle):
    request, bundle, staff = ready_bundle
    release_bundle(demo_session, bundle.id, staff.id)
    demo_session.commit()
    path = Path(demo_app.config["STORAGE_DIR"]) / "bundles" / bundle.storage_name
    with demo_app.app_context():
        assert delete_expired_bundles(demo_session) == 0
        with time_machine.travel(utcnow() + timedelta(days=7, minutes=1)):
            with pytest.raises(BundleUnavailable, match="expired"):
                open_download_stream(demo_session, request.id, bundle.download_id)
            assert delete_expired_bundles(demo_session) == 1
            demo_session.commit()
    assert not path.exists()
    assert bundle.status is BundleStatus.EXPIRED and bundle.deleted_at is not None
    with pytest.raises(BundleUnavailable):
        open_download_stream(demo_session, request.id, bundle.download_id)


def test_downloads_are_limited(demo_app, demo_session, ready_bundle):
    request, bundle, staff = ready_bundle
    demo_app.config["BUNDLE_MAX_DOWNLOADS"] = 2
    release_bundle(demo_session, bundle.id, staff.id)
    for _ in range(2):
        open_download_stream(demo_session, request.id, bundle.download_id)
    with pytest.raises(BundleUnavailable, match="most times"):
        open_download_stream(demo_session, request.id, bundle.download_id)


def test_a_manual_task_needs_an_upload_or_a_nothing_found_confirmation(demo_app, demo_session):
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ACCESS)
    demo_session.add(request)
    demo_session.commit()
    approve(demo_session, request)
    run_jobs(demo_app)
    mailbox = tasks_by_system(demo_session, request.id)["mailbox"]
    crm = tasks_by_system(demo_session, request.id)["crm"]
    with demo_app.app_context(), force_locale("en"):  # a service's refusal, outside a staff member's request
        with pytest.raises(ManualTaskError, match="either upload"):
            complete_manual_task(demo_session, mailbox.id, 1, nothing_found=True, upload=io.BytesIO(b"x"))
        with pytest.raises(ManualTaskError, match="either upload"):
            complete_manual_task(demo_session, mailbox.id, 1, nothing_found=False)
        with pytest.raises(ManualTaskError, match="not waiting for staff"):
            complete_manual_task(demo_session, crm.id, 1, nothing_found=True)
        demo_app.config["MANUAL_UPLOAD_MAX_BYTES"] = 10
        with pytest.raises(ManualTaskError, match="larger than"):
            complete_manual_task(demo_session, mailbox.id, 1, nothing_found=False, upload=io.BytesIO(b"x" * 11))
        demo_session.rollback()
        assert tasks_by_system(demo_session, request.id)["mailbox"].state is TaskState.WAITING_FOR_STAFF
        assert not list((Path(demo_app.config["STORAGE_DIR"]) / "spool").rglob("*upload*"))


def test_two_downloads_at_once_cannot_both_take_the_last_one(demo_app, demo_session, ready_bundle, monkeypatch):
    request, bundle, staff = ready_bundle
    demo_app.config["BUNDLE_MAX_DOWNLOADS"] = 1
    release_bundle(demo_session, bundle.id, staff.id)
    demo_session.commit()
    checked = delivery.downloadable_bundle
    raced = []

    def check_then_lose_the_race(session, request_id, download_id):
        found = checked(session, request_id, download_id)  # this download sees one left...
        if not raced:
            raced.append(True)
            with get_db(demo_app).session() as other:  # ...and another browser takes it first
                open_download_stream(other, request_id, download_id)
                other.commit()
        return found

    monkeypatch.setattr(delivery, "downloadable_bundle", check_then_lose_the_race)
    with pytest.raises(BundleUnavailable, match="most times"):
        open_download_stream(demo_session, request.id, bundle.download_id)
    demo_session.rollback()
    assert demo_session.get(ExportBundle, bundle.id).download_count == 1
