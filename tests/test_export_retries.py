"""A flaky system is retried with backoff; a broken one is marked failed, the others done, and retry
completes the case once it is fixed. Staff may choose a partial bundle explicitly, never by default."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from dsr.cases import states
from dsr.cases.states import Action
from dsr.export.assembly import PartialNotAllowed, assemble, assemble_partial
from dsr.export.manual import complete_manual_task
from dsr.export.release import release_to_subject
from dsr.export.tasks import run_export_task
from dsr.models import (
    AuditEvent,
    ExportBundle,
    Message,
    RequestStatus,
    Right,
    SubjectRequest,
    SystemTask,
    TaskState,
)
from dsr.queue import broker
from dsr.queue.outbox import get_queue
from dsr.queue.registry import job_spec
from dsr.tasks.registry import retry_task
from tests.helpers.export import KARI, approve, bundle_zip, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.staff import enrolled_staff


def _approved(session, app, right=Right.ACCESS) -> SubjectRequest:
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=right, language="en")
    session.add(request)
    session.commit()
    approve(session, request)
    return request


def _finish_mailbox(session, app, request):
    run_jobs(app)
    mailbox = tasks_by_system(session, request.id)["mailbox"]
    complete_manual_task(session, mailbox.id, 1, nothing_found=True)
    session.commit()
    run_jobs(app)


def test_a_system_that_answers_500_twice_is_retried_and_the_bundle_completes(demo_app, demo_session, chat):
    chat.fail_next = 2  # JOB_RETRY_INTERVALS has two entries in tests: three attempts in all
    request = _approved(demo_session, demo_app)
    _finish_mailbox(demo_session, demo_app, request)
    task = tasks_by_system(demo_session, request.id)["support_chat"]
    assert task.state is TaskState.DONE and task.attempts == 3 and task.records > 0
    demo_session.refresh(request)
    assert request.status is RequestStatus.READY_FOR_REVIEW
    retried = demo_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "export.system_retrying"))
    assert retried == 2


def test_a_system_that_always_fails_is_marked_failed_and_retry_completes_it(demo_app, demo_session, chat):
    chat.always_fail = True
    request = _approved(demo_session, demo_app)
    _finish_mailbox(demo_session, demo_app, request)
    tasks = tasks_by_system(demo_session, request.id)
    assert tasks["support_chat"].state is TaskState.FAILED
    assert tasks["support_chat"].last_error == "system support_chat answered lookup with HTTP 500"
    assert KARI not in tasks["support_chat"].last_error
    assert all(t.state is TaskState.DONE for k, t in tasks.items() if k != "support_chat")
    demo_session.refresh(request)
    assert request.status is RequestStatus.IN_PROGRESS
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 0  # never partial by itself

    chat.always_fail = False
    retry_task(demo_session, request, tasks["support_chat"], 1)
    demo_session.commit()
    run_jobs(demo_app)
    demo_session.refresh(request)
    assert request.status is RequestStatus.READY_FOR_REVIEW
    _bundle, archive, _ = bundle_zip(demo_session, request.id)
    assert "data/support_chat/messages.json" in archive.namelist()


def test_staff_may_choose_a_partial_bundle_that_names_the_missing_system(demo_app, demo_session, chat):
    chat.always_fail = True
    request = _approved(demo_session, demo_app)
    run_jobs(demo_app)
    with force_locale("en"), pytest.raises(PartialNotAllowed, match="still being worked on"):
        assemble_partial(demo_session, request.id, 1)  # the mailbox is still waiting for staff
    demo_session.rollback()
    _finish_mailbox(demo_session, demo_app, request)
    bundle = assemble_partial(demo_session, request.id, 1)
    demo_session.commit()
    run_jobs(demo_app)
    demo_session.refresh(request)
    assert request.status is RequestStatus.READY_FOR_REVIEW
    bundle, archive, _ = bundle_zip(demo_session, request.id)
    assert bundle.partial
    index = archive.read("index.html").decode()
    assert "Some systems could not be searched in time" in index and "Could not be searched" in index
    assert not any(n.startswith("data/support_chat/") for n in archive.namelist())


def test_a_job_run_twice_builds_one_bundle(demo_app, demo_session):
    request = _approved(demo_session, demo_app)
    _finish_mailbox(demo_session, demo_app, request)
    crm = tasks_by_system(demo_session, request.id)["crm"]
    with demo_app.app_context():
        assert run_export_task(demo_session, crm.id, final_attempt=True) == "not-claimed"
        assert assemble(demo_session, request.id) == "not-in-progress"
    bundles = list((Path(demo_app.config["STORAGE_DIR"]) / "bundles").iterdir())
    assert len(bundles) == 1 and demo_session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 1


def test_a_case_withdrawn_before_its_exports_run_collects_nothing(demo_app, demo_session):
    request = _approved(demo_session, demo_app)
    states.apply(request, Action.WITHDRAW)
    demo_session.commit()
    run_jobs(demo_app)
    tasks = tasks_by_system(demo_session, request.id)
    assert {t.state for t in tasks.values()} == {TaskState.SKIPPED}
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 0
    assert not (Path(demo_app.config["STORAGE_DIR"]) / "spool").exists() or \
        not any((Path(demo_app.config["STORAGE_DIR"]) / "spool").rglob("*.sealed"))


@pytest.mark.slow
def test_every_job_delivered_a_second_time_changes_nothing(smtp, demo_app, demo_session):
    """SECURITY-PLAN F14: each export, assembly and mail job of finished cases enqueued again under a new
    id, run by a real worker: still one bundle per case (the same file), one mail per letter, and the
    tasks' records as they were."""

    staff, _ = enrolled_staff(demo_session, demo_app)
    cases = [_approved(demo_session, demo_app) for _ in range(4)]
    run_jobs(demo_app)
    for case in cases:
        _finish_mailbox(demo_session, demo_app, case)
        release_to_subject(demo_session, case.id, staff.id)
        demo_session.commit()
    run_jobs(demo_app)  # the "your data is ready" letters

    def state():
        demo_session.expire_all()
        bundles = demo_session.execute(sa.select(ExportBundle.request_id, ExportBundle.storage_name,
                                                 ExportBundle.sha256)).all()
        tasks = demo_session.execute(sa.select(SystemTask.id, SystemTask.state, SystemTask.records)).all()
        files = sorted(p.name for p in (Path(demo_app.config["STORAGE_DIR"]) / "bundles").iterdir())
        return sorted(bundles), sorted(tasks), files, len(smtp.messages)

    before = state()
    assert len(before[0]) == len(cases) and len(before[2]) == len(cases)
    duplicates = [("export_system", t.id) for t in demo_session.scalars(sa.select(SystemTask))]
    duplicates += [("assemble_bundle", case.id) for case in cases]
    duplicates += [("deliver_message", m.id) for m in demo_session.scalars(sa.select(Message))]
    connection = broker.worker_connection(demo_app)
    try:
        queued = []
        for number, (name, argument) in enumerate(duplicates):
            spec = job_spec(name)
            queued.append(get_queue(demo_app, spec.queue, connection).enqueue(
                spec.path, argument, job_id=f"duplicate-{number}"))
        run_jobs(demo_app)
        for job in queued:
            job.refresh()
            assert job.get_status() == "finished", (job.func_name, job.get_status())  # ran, and said no
        outcomes = {job.func_name.rsplit(".", 1)[-1]: job.return_value() for job in queued}
    finally:
        connection.close()
    assert state() == before
    assert outcomes["export_system"] == "not-claimed" and outcomes["assemble_bundle"] == "not-in-progress"
