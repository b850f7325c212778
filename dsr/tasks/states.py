"""Every state change of a SystemTask, in one table (applied by compare-and-set, see dsr.transitions)."""
from __future__ import annotations

from enum import StrEnum

from dsr.models import SystemTask
from dsr.models import TaskState as T
from dsr.transitions import TransitionTable


class TaskEvent(StrEnum):
    CLAIM = "claim"  # a job takes the task (free, or a lapsed lease of a dead worker)
    FINISH = "finish"  # the work is done (and, for an action, proven)
    PLANNED = "planned"  # an action's dry run is stored and waits for an officer's approval
    APPROVE_PLAN = "approve_plan"  # an officer approved the plan: apply is queued
    RETRY = "retry"  # the attempt failed with retries left
    FAIL = "fail"  # the last attempt failed (or the system is no longer declared)
    HAND_TO_STAFF = "hand_to_staff"  # a manual system: a person does it
    STAFF_DONE = "staff_done"  # the person confirmed it
    SKIP = "skip"  # the case closed before the task ran
    RESTART = "restart"  # staff start a failed task again
    RELEASE = "release"  # the sweeper frees the task of a dead worker
    RESCHEDULE = "reschedule"  # a follow-up that ran opens again for its next date


FINISHED = (T.DONE, T.SKIPPED)
#: nothing more happens to these by themselves
SETTLED = (T.DONE, T.SKIPPED, T.FAILED)
#: a worker has it or will have it soon
WORKING = (T.PENDING, T.RUNNING)
#: work still to be done, by a worker or a person (it needs the subject's details)
OUTSTANDING = (T.PENDING, T.RUNNING, T.WAITING_FOR_STAFF, T.AWAITING_APPROVAL)

TASK_STATES = TransitionTable(SystemTask, "state", {
    (T.PENDING, TaskEvent.CLAIM): T.RUNNING,
    (T.RUNNING, TaskEvent.CLAIM): T.RUNNING,  # with a lapsed lease only (the caller's guard)
    (T.RUNNING, TaskEvent.FINISH): T.DONE,
    (T.RUNNING, TaskEvent.PLANNED): T.AWAITING_APPROVAL,
    (T.AWAITING_APPROVAL, TaskEvent.APPROVE_PLAN): T.PENDING,
    (T.RUNNING, TaskEvent.RETRY): T.PENDING,
    (T.RUNNING, TaskEvent.FAIL): T.FAILED,
    (T.PENDING, TaskEvent.FAIL): T.FAILED,
    (T.RUNNING, TaskEvent.HAND_TO_STAFF): T.WAITING_FOR_STAFF,
    (T.WAITING_FOR_STAFF, TaskEvent.STAFF_DONE): T.DONE,
    (T.PENDING, TaskEvent.SKIP): T.SKIPPED,
    (T.AWAITING_APPROVAL, TaskEvent.SKIP): T.SKIPPED,
    (T.WAITING_FOR_STAFF, TaskEvent.SKIP): T.SKIPPED,
    (T.FAILED, TaskEvent.RESTART): T.PENDING,
    (T.RUNNING, TaskEvent.RELEASE): T.PENDING,
    (T.DONE, TaskEvent.RESCHEDULE): T.PENDING,
})
