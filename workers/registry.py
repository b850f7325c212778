"""The job decorator and registry: names -> dotted path, queue, retries.

A job body receives the app context's session first, then ids; the decorator owns the
transaction, so the body's work and the outbox row's completion commit together. A failure
is recorded on the outbox row, which schedules the retry (see dsr.jobs.record_failure).
"""
from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from rq import get_current_job

from dsr import jobs
from dsr.db import get_session, utcnow
from dsr.models import OutboxJob
from workers.app import get_app

log = logging.getLogger(__name__)

# Every module of the `workers` package but these holds @job functions (each area adds its own module).
_NOT_JOB_MODULES = {"app", "registry"}


@dataclass(frozen=True)
class JobSpec:
    name: str
    path: str  # dotted path RQ imports in the worker
    queue: str
    retries: int | None  # None: as many as JOB_RETRY_INTERVALS has entries
    timeout: int | None
    every: float | None  # seconds: the workers start this job periodically (it then takes no arguments)


_JOBS: dict[str, JobSpec] = {}
_loaded = False


def job(queue: str, *, retries: int | None = None, timeout: int | None = None,
        every: float | None = None) -> Callable:
    def decorate(body: Callable) -> Callable:
        name = body.__name__

        @functools.wraps(body)
        def run(*args):
            app = get_app()
            with app.app_context():
                session = get_session()
                publication = _current_publication()
                try:
                    result = body(session, *args)
                    if publication is not None:
                        session.execute(sa.update(OutboxJob).where(OutboxJob.id == publication[0])
                                        .values(completed_at=utcnow(), last_error=None))
                    session.commit()
                    return result
                except Exception as exc:
                    session.rollback()
                    _record_failure(app, session, publication, exc)
                    raise

        run.body = body
        _JOBS[name] = JobSpec(name=name, path=f"{body.__module__}.{name}", queue=queue,
                              retries=retries, timeout=timeout, every=every)
        return run

    return decorate


def load_jobs() -> dict[str, JobSpec]:
    global _loaded
    if not _loaded:
        for module in job_modules():
            importlib.import_module(module)
        _loaded = True
    return dict(_JOBS)


def job_modules() -> list[str]:
    import workers

    return sorted(f"workers.{info.name}" for info in pkgutil.iter_modules(workers.__path__)
                  if info.name not in _NOT_JOB_MODULES)


def periodic_jobs() -> list[JobSpec]:
    return [spec for spec in load_jobs().values() if spec.every]


def job_spec(name: str) -> JobSpec:
    load_jobs()
    try:
        return _JOBS[name]
    except KeyError:
        raise ValueError(f"unknown job {name!r}") from None


def is_final_attempt() -> bool:
    """True when a failure of the running job will not be retried (or it runs outside the outbox)."""
    current = get_current_job()
    publication = _current_publication()
    if publication is None:
        return True
    name = current.func_name.rsplit(".", 1)[-1]
    return jobs.is_last_attempt(get_app(), name, int(current.meta.get("attempt", 0)))


def _current_publication() -> tuple[int, int] | None:
    """(outbox id, publish count) of the running job, when it came from the outbox."""
    current = get_current_job()
    if current is None or current.meta.get("outbox_id") is None:
        return None
    parsed = jobs.parse_rq_job_id(current.id)
    return parsed if parsed and parsed[0] == current.meta["outbox_id"] else None


def _record_failure(app, session, publication: tuple[int, int] | None, exc: Exception) -> None:
    # Only the exception class and our own short message: connector errors are phrased without PII.
    text = f"{type(exc).__name__}: {str(exc)[:200]}"
    log.warning("job outbox=%s failed: %s", publication and publication[0], type(exc).__name__)
    if publication is None:
        return
    try:
        due = jobs.record_failure(app, session, *publication, text)
    except sa.exc.SQLAlchemyError:
        # The database itself may be what failed: the sweep finds the job among RQ's failed ones.
        session.rollback()
        return
    if due is not None:
        jobs.Relay(app).publish([due])  # no backoff: the next attempt goes straight to the queue
