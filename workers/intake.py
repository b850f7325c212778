"""Intake and identity jobs: find the subject in every connected system; remind and expire the unverified."""

from __future__ import annotations

from dsr.identity import expiry, lookup
from dsr.jobs import QUEUE_CONNECTORS, QUEUE_DEFAULT
from workers.registry import is_final_attempt, job


@job(QUEUE_CONNECTORS, timeout=300)
def lookup_subject(session, request_id: int) -> bool:
    return lookup.locate_subject(session, request_id, final_attempt=is_final_attempt())


@job(QUEUE_DEFAULT, retries=0, every=60)
def sweep_unverified_requests(session) -> dict[str, int]:
    counts = expiry.remind_and_expire(session)
    return {"reminded": counts.reminded, "expired": counts.expired}
