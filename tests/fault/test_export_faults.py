"""A worker killed in the middle of a large export: the lease hands the task to a new job, nothing is
lost or written twice, and exactly one complete, verifiable bundle comes out."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.bundle.writer import verify_bundle
from dsr.db import get_db
from dsr.models import ExportBundle, RequestStatus, SubjectRequest, SystemTask, TaskState
from tests.helpers.export import approved_access_case, bundle_zip, use_warehouse
from tests.helpers.jobs import kill_family, spawn_worker, stop_worker, wait_until


@pytest.mark.slow
@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_a_worker_killed_mid_export_loses_nothing_and_builds_exactly_one_bundle(app_config, tmp_path, monkeypatch,
                                                                                 worker_class):
    rows = 1_000_000  # ~4 s of export: the kill must land mid-way, after the first progress beat (0.7 s)
    use_warehouse(app_config, tmp_path, rows)
    app_config.update(EXPORT_LEASE_SECONDS=2, WORKER_CLASS=worker_class)
    monkeypatch.setenv("DSR_EXPORT_LEASE_SECONDS", "2")
    app = create_app(app_config)
    with app.app_context(), get_db(app).session() as session:
        request = approved_access_case(session)
        worker = spawn_worker(app, tmp_path / "worker1.log")

        def running_with_progress():
            session.expire_all()
            task = session.scalar(sa.select(SystemTask))
            return task.state is TaskState.RUNNING and task.records > 0

        try:
            wait_until(running_with_progress, timeout=60, interval=0.02, message="export under way")
        finally:
            kill_family(worker.pid)  # the worker and its work horse (RQ gives horses their own session)
            worker.wait(10)
        session.expire_all()
        assert session.scalar(sa.select(SystemTask)).state is TaskState.RUNNING  # the dead worker's lease

        worker = spawn_worker(app, tmp_path / "worker2.log")
        try:
            def ready():
                session.expire_all()
                return session.get(SubjectRequest, request.id).status is RequestStatus.READY_FOR_REVIEW
            wait_until(ready, timeout=90, interval=0.2, message="bundle ready after the restart")
        finally:
            stop_worker(worker)
        task = session.scalar(sa.select(SystemTask))
        assert task.state is TaskState.DONE and task.records == rows + 1 and task.attempts >= 2
        assert session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 1
        files = list((Path(app.config["STORAGE_DIR"]) / "bundles").iterdir())
        assert len(files) == 1 and not files[0].name.startswith(".tmp")
        _bundle, archive, raw = bundle_zip(session, request.id)
        events = archive.read("data/warehouse/events.csv").decode("utf-8-sig").splitlines()
        assert len(events) == rows + 1  # header + every row, none lost, none twice
        path = tmp_path / "bundle.zip"
        path.write_bytes(raw)
        assert verify_bundle(path).ok
    get_db(app).dispose()
