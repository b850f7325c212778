"""Everything that talks to RQ and Redis: `defer` (outbox + relay), the `@job` decorator and its
registry, retries, the sweep and reaper, periodic jobs, database leases, the worker and the
embedded broker. Services use the names below; the modules behind them are the runtime's own."""
from dsr.queue.jobs import RetryLater, is_final_attempt, job
from dsr.queue.lease import Lease, LeaseLost
from dsr.queue.outbox import defer
from dsr.queue.registry import QUEUE_CONNECTORS, QUEUE_DEFAULT, QUEUE_NOTIFY

__all__ = ["QUEUE_CONNECTORS", "QUEUE_DEFAULT", "QUEUE_NOTIFY", "Lease", "LeaseLost", "RetryLater", "defer",
           "is_final_attempt", "job"]
