"""The job registry: every `@job` function by name, with its queue, retries, timeout and period.

A job's name (its function's name) is the wire contract: outbox rows store it, RQ job ids start
with it. The dotted path RQ imports comes from the registry, so a job may move between modules.
Modules register their jobs when imported; the app factory imports every module that defines one,
so any process that built the app knows them all (the worker's sweep and periodic jobs need that).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask

QUEUE_DEFAULT = "default"
QUEUE_NOTIFY = "notify"
QUEUE_CONNECTORS = "connectors"
ALL_QUEUES = (QUEUE_NOTIFY, QUEUE_DEFAULT, QUEUE_CONNECTORS)  # order = dequeue priority


@dataclass(frozen=True)
class JobSpec:
    name: str
    path: str  # dotted path RQ imports in the worker
    queue: str
    retries: int | None  # None: as many as JOB_RETRY_INTERVALS has entries
    timeout: int | None
    every: float | None  # seconds: the workers start this job periodically (it then takes no arguments)


_JOBS: dict[str, JobSpec] = {}


class UnknownJob(ValueError):
    """A name no `@job` function registered (a typo, or a module the process never imported)."""


def register(spec: JobSpec) -> None:
    known = _JOBS.get(spec.name)
    if known is not None and known.path != spec.path:
        raise ValueError(f"job name {spec.name!r} is taken by {known.path}")
    _JOBS[spec.name] = spec


def job_spec(name: str) -> JobSpec:
    try:
        return _JOBS[name]
    except KeyError:
        raise UnknownJob(f"unknown job {name!r}") from None


def registered() -> dict[str, JobSpec]:
    return dict(_JOBS)


def periodic_jobs() -> list[JobSpec]:
    return [spec for spec in _JOBS.values() if spec.every]


def queue_name(app: Flask, short: str) -> str:
    return f"{app.config['QUEUE_PREFIX']}-{short}"


def rq_job_id(job_name: str, outbox_id: int, publish_count: int) -> str:
    """Deterministic per publication: a retry, or re-publishing after a loss, bumps publish_count."""
    return f"{job_name}-{outbox_id}-{publish_count}"


_RQ_JOB_ID = re.compile(r"^[a-z_0-9]+-(\d+)-(\d+)$")


def parse_rq_job_id(job_id: str) -> tuple[int, int] | None:
    """(outbox id, publish count) of a job id made by rq_job_id; None for other jobs (periodic ones)."""
    match = _RQ_JOB_ID.match(job_id)
    return (int(match[1]), int(match[2])) if match else None
