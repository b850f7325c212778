"""Retrying one failed system: back to pending, its job deferred again through the outbox."""
from __future__ import annotations

import pytest

from dsr.models import OutboxJob, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.notify.service import deliver_message
from dsr.tasks import registry


def _task(session, make_request, state):
    request = make_request()
    task = SystemTask(request_id=request.id, system_key="crm", action=TaskAction.EXPORT, state=state,
                      last_error="ConnectorError: 500 from the CRM")
    session.add(task)
    session.commit()
    return task


def test_a_failed_task_is_deferred_again(session, make_request, monkeypatch):
    monkeypatch.setitem(registry._KINDS, TaskAction.EXPORT, registry.TaskKind(TaskAction.EXPORT, deliver_message))
    task = _task(session, make_request, TaskState.FAILED)
    registry.retry_task(session, session.get(SubjectRequest, task.request_id), task, 1)
    session.commit()
    assert task.state is TaskState.PENDING and task.last_error is None
    row = session.query(OutboxJob).one()
    assert (row.job_name, row.args, row.request_id) == ("deliver_message", [task.id], task.request_id)


@pytest.mark.parametrize("state", [TaskState.DONE, TaskState.RUNNING, TaskState.PENDING])
def test_only_failed_tasks_can_be_retried(session, make_request, state):
    task = _task(session, make_request, state)
    with pytest.raises(registry.TaskNotRetryable, match="only a failed system"):
        registry.retry_task(session, session.get(SubjectRequest, task.request_id), task, 1)
    assert session.query(OutboxJob).count() == 0
