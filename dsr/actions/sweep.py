"""The actions' safety net, every 10 s on some worker: the task pipeline's sweep for every action kind
(tasks of dead workers, vanished jobs), and lifts of restrictions whose notice was delivered."""
from __future__ import annotations

from sqlalchemy import orm

from dsr.actions.kinds import ACTIONS
from dsr.actions.restriction import start_lifts_when_told
from dsr.actions.work import act_on_system
from dsr.queue import QUEUE_DEFAULT, job
from dsr.tasks.sweep import sweep_tasks


def sweep_actions(session: orm.Session) -> dict[str, int]:
    counts = {"released": 0, "redeferred": 0}
    for action in sorted(ACTIONS):
        for key, value in sweep_tasks(session, action, act_on_system).items():
            counts[key] += value
    counts["lifts"] = start_lifts_when_told(session)
    return counts


@job(QUEUE_DEFAULT, every=10)
def sweep_action_work(session: orm.Session) -> dict:
    return sweep_actions(session)
