"""Nothing is lost when a worker dies: the DB lease hands its task to a new job, an interrupted assembly
leaves no partial file and runs again, and a worker killed mid-export still ends in exactly one bundle."""
from __future__ import annotations

import errno
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.bundle import writer as bundle_writer
from dsr.bundle.writer import verify_bundle
from dsr.db import get_db, utcnow
from dsr.export.assembly import assemble, retry_assembly
from dsr.export.manual import complete_manual_task
from dsr.export.release import release_to_subject
from dsr.export.sweep import sweep_export
from dsr.export.tasks import export_system
from dsr.models import (
    BundleStatus,
    ExportBundle,
    OutboxJob,
    RequestStatus,
    SubjectRequest,
    SystemTask,
    TaskState,
)
from dsr.notify.service import deliver_message
from dsr.queue import RetryLater, defer
from tests.helpers.export import KARI, approved_access_case, bundle_zip, tasks_by_system, use_warehouse
from tests.helpers.jobs import run_jobs, spawn_worker, stop_worker, wait_until
from tests.helpers.people import use_directory
from tests.helpers.staff import officer


def test_a_task_whose_worker_died_is_handed_to_a_new_job_by_the_sweeper(demo_app, demo_session):
    request = approved_access_case(demo_session)
    crm = tasks_by_system(demo_session, request.id)["crm"]
    crm.state, crm.attempts, crm.lease_until = TaskState.RUNNING, 1, utcnow() - timedelta(seconds=1)
    demo_session.commit()  # as a worker SIGKILLed mid-export leaves it (its outbox row still open)
    with demo_app.app_context():
        assert sweep_export(demo_session)["released"] == 1
        demo_session.commit()
    jobs_for_crm = [r for r in demo_session.scalars(sa.select(OutboxJob).where(OutboxJob.job_name == "export_system"))
                    if r.args == [crm.id]]
    assert len(jobs_for_crm) == 2
    run_jobs(demo_app)
    crm = tasks_by_system(demo_session, request.id)["crm"]
    assert crm.state is TaskState.DONE and crm.attempts == 2


def test_an_assembly_that_fails_mid_write_leaves_no_file_and_runs_again(demo_app, demo_session, monkeypatch):
    request = approved_access_case(demo_session)
    run_jobs(demo_app)

    real_add = bundle_writer.BundleWriter.add
    calls = {"n": 0}

    def disk_full(self, path, chunks, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_add(self, path, chunks, **kwargs)

    monkeypatch.setattr(bundle_writer.BundleWriter, "add", disk_full)
    mailbox = tasks_by_system(demo_session, request.id)["mailbox"]
    complete_manual_task(demo_session, mailbox.id, 1, nothing_found=True)
    demo_session.commit()
    with demo_app.app_context(), pytest.raises(RetryLater) as failed:
        assemble(demo_session, request.id, final_attempt=False)
    assert isinstance(failed.value.__cause__, OSError)
    demo_session.commit()  # what the job decorator does with a RetryLater: keep what the attempt wrote
    bundles = Path(demo_app.config["STORAGE_DIR"]) / "bundles"
    assert list(bundles.iterdir()) == []  # no partial file, no temp file
    bundle = demo_session.scalar(sa.select(ExportBundle))
    assert bundle.status is BundleStatus.ASSEMBLING and bundle.lease_until is None
    monkeypatch.setattr(bundle_writer.BundleWriter, "add", real_add)
    run_jobs(demo_app)  # the deferred assembly job runs again
    demo_session.refresh(request)
    assert request.status is RequestStatus.READY_FOR_REVIEW and len(list(bundles.iterdir())) == 1


def test_the_same_data_exported_twice_gives_the_same_manifest(demo_app, demo_session):
    def build(request) -> list[dict]:
        run_jobs(demo_app)
        mailbox = tasks_by_system(demo_session, request.id)["mailbox"]
        complete_manual_task(demo_session, mailbox.id, 1, nothing_found=True)
        demo_session.commit()
        run_jobs(demo_app)
        _bundle, archive, _ = bundle_zip(demo_session, request.id)
        return json.loads(archive.read("manifest.json"))["files"]

    request = approved_access_case(demo_session)
    first = build(request)
    # Throw the result away and collect everything again, as a re-run after a lost bundle would.
    bundle = demo_session.scalar(sa.select(ExportBundle))
    (Path(demo_app.config["STORAGE_DIR"]) / "bundles" / bundle.storage_name).unlink()
    demo_session.delete(bundle)
    request.status = RequestStatus.IN_PROGRESS
    demo_session.flush()
    for task in tasks_by_system(demo_session, request.id).values():
        task.state, task.result, task.records = TaskState.PENDING, {}, 0
        demo_session.flush()
        defer(demo_session, export_system, task.id, request_id=request.id)
    demo_session.commit()
    assert build(request) == first


def test_an_assembly_that_fails_for_good_is_marked_failed_and_staff_can_start_it_again(demo_app, demo_session,
                                                                                    monkeypatch):
    request = approved_access_case(demo_session)
    run_jobs(demo_app)

    def broken(self, path, chunks, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    real_add = bundle_writer.BundleWriter.add
    monkeypatch.setattr(bundle_writer.BundleWriter, "add", broken)
    mailbox = tasks_by_system(demo_session, request.id)["mailbox"]
    complete_manual_task(demo_session, mailbox.id, 1, nothing_found=True)
    demo_session.commit()
    run_jobs(demo_app)  # three attempts, then failed
    bundle = demo_session.scalar(sa.select(ExportBundle))
    demo_session.refresh(bundle)
    assert bundle.status is BundleStatus.FAILED
    with demo_app.app_context():
        assert sweep_export(demo_session)["assemblies"] == 0  # no endless retry loop
    monkeypatch.setattr(bundle_writer.BundleWriter, "add", real_add)
    retry_assembly(demo_session, request.id, 1)
    demo_session.commit()
    run_jobs(demo_app)
    demo_session.refresh(request)
    assert request.status is RequestStatus.READY_FOR_REVIEW


@pytest.fixture
def warehouse_app(app_config, tmp_path):
    """One small sql system, so the export job of its only task is the last one of the case."""
    use_warehouse(app_config, tmp_path, 500)
    app = create_app(app_config)
    yield app
    get_db(app).dispose()


def test_the_last_export_job_assembles_the_bundle_itself(warehouse_app, tmp_path):
    with warehouse_app.app_context(), get_db(warehouse_app).session() as session:
        request = approved_access_case(session)
        run_jobs(warehouse_app)
        session.expire_all()
        assert session.get(SubjectRequest, request.id).status is RequestStatus.READY_FOR_REVIEW
        names = session.scalars(sa.select(OutboxJob.job_name)).all()
        assert names == ["export_system"]  # no second job, no second hop
        _bundle, archive, raw = bundle_zip(session, request.id)
        assert len(archive.read("data/warehouse/events.csv").decode("utf-8-sig").splitlines()) == 501
        path = tmp_path / "bundle.zip"
        path.write_bytes(raw)
        assert verify_bundle(path).ok


def test_the_spools_stay_for_the_review_and_go_once_the_released_bundle_is_digested(warehouse_app):
    with warehouse_app.app_context(), get_db(warehouse_app).session() as session:
        request = approved_access_case(session)
        run_jobs(warehouse_app)
        spool = Path(warehouse_app.config["STORAGE_DIR"]) / "spool" / f"r{request.id}"
        assert any(spool.iterdir())  # staff may still redact the bundle or answer with a delta
        session.expire_all()
        release_to_subject(session, request.id, officer(session).id)
        session.commit()
        run_jobs(warehouse_app)
        assert not spool.exists() or not any(spool.iterdir())


def test_an_assembly_failing_after_the_last_export_is_handed_to_the_assembly_job(warehouse_app, monkeypatch):
    real_add = bundle_writer.BundleWriter.add
    calls = {"n": 0}

    def disk_full_once(self, path, chunks, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_add(self, path, chunks, **kwargs)

    monkeypatch.setattr(bundle_writer.BundleWriter, "add", disk_full_once)
    with warehouse_app.app_context(), get_db(warehouse_app).session() as session:
        request = approved_access_case(session)
        run_jobs(warehouse_app)
        session.expire_all()
        task = session.scalar(sa.select(SystemTask))
        assert task.state is TaskState.DONE and task.attempts == 1  # the export itself is not repeated
        assert session.get(SubjectRequest, request.id).status is RequestStatus.READY_FOR_REVIEW
        rows = {name: completed for name, completed in session.execute(
            sa.select(OutboxJob.job_name, OutboxJob.completed_at)).all()}
        assert set(rows) == {"export_system", "assemble_bundle"} and all(rows.values())
        assert session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 1
        assert len(list((Path(warehouse_app.config["STORAGE_DIR"]) / "bundles").iterdir())) == 1


@pytest.mark.slow
def test_a_system_that_stops_answering_is_cut_off_by_the_job_timeout_retried_then_marked_failed(app_config,
                                                                                                 tmp_path):
    """SECURITY-PLAN F12: the job timeout ends each attempt, the retries run, the task is marked failed
    with a message for staff, no spool file is left behind and the worker goes on serving."""
    timeout = 2
    wedged = {"name": "Wedged warehouse", "people": [{"id": 1, "email": KARI}], "hang_after_first_batch": True}
    use_directory(app_config, tmp_path, {"wedged": wedged})
    app_config.update(JOB_TIMEOUT=timeout)
    app = create_app(app_config)
    with app.app_context(), get_db(app).session() as session:
        request = approved_access_case(session)
        worker = spawn_worker(app, tmp_path / "worker.log")
        started = utcnow()
        try:
            def failed():
                session.expire_all()
                return session.scalar(sa.select(SystemTask)).state is TaskState.FAILED
            wait_until(failed, timeout=60, interval=0.1, message="the wedged system marked failed")
            elapsed = (utcnow() - started).total_seconds()
            task = session.scalar(sa.select(SystemTask))
            assert task.attempts == 3 and task.last_error == "system wedged took longer than the job timeout"
            assert 3 * timeout <= elapsed < 3 * timeout + 20  # each attempt cut off near the timeout
            spool = Path(app.config["STORAGE_DIR"]) / "spool" / f"r{request.id}"
            assert not spool.exists() or not any(spool.iterdir())  # no half-written records left
            session.refresh(request)
            assert request.status is RequestStatus.IN_PROGRESS  # waits for staff: retry or a partial bundle
            assert worker.poll() is None  # the worker survived all three

            defer(session, deliver_message, 0)  # and still takes the next job (a gone message: a no-op)
            session.commit()
            def next_job_done():
                session.expire_all()
                return session.scalar(sa.select(sa.func.count()).select_from(OutboxJob).where(
                    OutboxJob.job_name == "deliver_message", OutboxJob.completed_at.is_not(None))) == 1
            wait_until(next_job_done, timeout=20, interval=0.1, message="the next job run")
        finally:
            stop_worker(worker)
    get_db(app).dispose()
