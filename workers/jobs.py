"""Foundation jobs. Each body gets the session, then ids; see workers.registry.job."""
from __future__ import annotations

from dsr.jobs import QUEUE_NOTIFY
from dsr.notify import service as notify
from workers.registry import is_final_attempt, job


@job(QUEUE_NOTIFY)
def deliver_message(session, message_id: int) -> str | None:
    status = notify.deliver(session, message_id, final_attempt=is_final_attempt())
    return None if status is None else str(status)
