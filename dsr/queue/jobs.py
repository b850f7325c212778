"""The `@job` decorator: the one place a job's transaction is committed.

A job body receives the app context's session first, then ids. The decorator commits the body's
work together with its outbox row's completion, or rolls back and records the failure on the outbox
row, which schedules the retry (dsr.queue.retries). A body that must keep what it wrote although the
attempt failed (attempt counts, the error shown to staff) raises `RetryLater`: its changes are
committed, then the failure is recorded. A body that must commit mid-way to be seen by other workers
(a claim, progress) does it through dsr.queue.lease.Lease, never by calling commit itself.

Jobs run in the app the worker built (`use_app`): `flask dsr worker` and the tests' in-process
worker set it; nothing builds an app at import.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from rq import get_current_job

from dsr.db import get_session, utcnow
from dsr.models import OutboxJob
from dsr.queue.outbox import Relay
from dsr.queue.registry import JobSpec, parse_rq_job_id, register
from dsr.queue.retries import is_last_attempt, record_failure

log = logging.getLogger(__name__)

_app: Flask | None = None


class RetryLater(Exception):
    """The attempt failed, and what the body wrote about it is kept: the decorator commits before it
    records the failure (which schedules the retry). The message is shown to staff: no personal data."""


def use_app(app: Flask) -> None:
    """The app jobs in this process (and forked work horses) run in."""
    global _app
    _app = app


def get_app() -> Flask:
    if _app is None:
        raise RuntimeError("jobs run in `flask dsr worker` (or after dsr.queue.jobs.use_app(app))")
    return _app


def job(queue: str, *, retries: int | None = None, timeout: int | None = None,
        every: float | None = None) -> Callable:
    def decorate(body: Callable) -> Callable:
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
                except RetryLater as exc:
                    session.commit()
                    _record_failure(app, session, publication, exc)
                    raise
                except Exception as exc:
                    session.rollback()
                    _record_failure(app, session, publication, exc)
                    raise

        run.body = body
        run.spec = JobSpec(name=body.__name__, path=f"{body.__module__}.{body.__name__}", queue=queue,
                           retries=retries, timeout=timeout, every=every)
        register(run.spec)
        return run

    return decorate


def is_final_attempt() -> bool:
    """True when a failure of the running job will not be retried (or it runs outside the outbox)."""
    current = get_current_job()
    publication = _current_publication()
    if publication is None:
        return True
    name = current.func_name.rsplit(".", 1)[-1]
    return is_last_attempt(get_app(), name, int(current.meta.get("attempt", 0)))


def _current_publication() -> tuple[int, int] | None:
    """(outbox id, publish count) of the running job, when it came from the outbox."""
    current = get_current_job()
    if current is None or current.meta.get("outbox_id") is None:
        return None
    parsed = parse_rq_job_id(current.id)
    return parsed if parsed and parsed[0] == current.meta["outbox_id"] else None


def _record_failure(app: Flask, session, publication: tuple[int, int] | None, exc: Exception) -> None:
    # Only the exception class and our own short message: connector errors are phrased without PII.
    text = f"{type(exc).__name__}: {str(exc)[:200]}"
    log.warning("job outbox=%s failed: %s", publication and publication[0], type(exc).__name__)
    if publication is None:
        return
    try:
        due = record_failure(app, session, *publication, text)
    except sa.exc.SQLAlchemyError:
        # The database itself may be what failed: the sweep finds the job among RQ's failed ones.
        session.rollback()
        return
    if due is not None:
        Relay(app).publish([due])  # no backoff: the next attempt goes straight to the queue
