"""`flask dsr worker`: an RQ worker plus the outbox sweep and periodic jobs.

The sweep runs in a thread of every worker (publishing twice is harmless), so a deployment
needs nothing but web and worker processes: no cron, no separate scheduler host. Delayed work
and retries wait in the outbox (run_at) and the sweep publishes them when due, so RQ's
scheduler (a forked child process per worker, with its own copy of the app) is not started.

Workers run only the registered `@job` functions (`RegisteredJobsOnly`): a job someone wrote into Redis
naming any other importable function, or a callback, fails without that name being imported.
"""
from __future__ import annotations

import contextlib
import logging
import threading

import redis
from flask import Flask
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from dsr.connectors.registry import get_systems
from dsr.queue import broker
from dsr.queue.jobs import use_app
from dsr.queue.outbox import get_queue
from dsr.queue.registry import ALL_QUEUES, registered
from dsr.queue.sweep import beacon_key, beat, enqueue_periodic, reap_abandoned_jobs, sweep_outbox

log = logging.getLogger(__name__)


class Sweeper(threading.Thread):
    """Every OUTBOX_SWEEP_SECONDS: publish what the relay left, reap dead jobs, start periodic jobs."""

    def __init__(self, app: Flask, connection: redis.Redis):
        super().__init__(name="dsr-sweeper", daemon=True)
        self.app, self.connection = app, connection
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = float(self.app.config["OUTBOX_SWEEP_SECONDS"])
        while not self.stopping.wait(interval):
            self.tick()

    def tick(self) -> None:
        try:
            with self.app.app_context():
                counts = sweep_outbox(self.app, self.connection)
                reap_abandoned_jobs(self.app, self.connection)
                enqueue_periodic(self.app, self.connection)
            if any(counts.values()):
                log.info("sweep: %s", counts)
        except (redis.RedisError, OSError) as exc:
            log.warning("sweep skipped: queue unavailable (%s)", type(exc).__name__)
        except Exception:  # the sweeper must outlive a bad tick (database restarting, ...)
            log.exception("sweep failed; next tick in %ss", self.app.config["OUTBOX_SWEEP_SECONDS"])


class Beacon(threading.Thread):
    """Refreshes the worker's liveness key (see dsr.queue.sweep.reap_abandoned_jobs) while jobs run."""

    def __init__(self, app: Flask, connection: redis.Redis, worker_name: str):
        super().__init__(name="dsr-beacon", daemon=True)
        self.app, self.connection, self.worker_name = app, connection, worker_name
        self.stopping = threading.Event()
        self.beat()  # before the first job is taken

    def beat(self) -> None:
        # Redis away: no job can be taken either, and the next beat tries again.
        with contextlib.suppress(redis.RedisError, OSError):
            beat(self.app, self.connection, self.worker_name)

    def run(self) -> None:
        interval = max(0.2, float(self.app.config["WORKER_BEACON_TTL"]) / 3)
        while not self.stopping.wait(interval):
            self.beat()

    def stop(self) -> None:
        self.stopping.set()
        try:
            self.connection.delete(beacon_key(self.app, self.worker_name))
        except (redis.RedisError, OSError):
            pass


class UnregisteredJob(Exception):
    """A job in Redis names a function that is not a registered `@job`, or a callback: it is not run."""


class RegisteredJobsOnly(Job):
    """A job as the portal's workers load it. RQ imports and calls whatever dotted path a job names
    (and its success, failure and stopped callbacks): anyone who can write to Redis could run any
    importable function. Only the paths of registered jobs are imported here; the portal never sets
    callbacks, so a job naming one was not made by it, and none of them is ever called."""

    @property
    def func(self):
        names_callback = any(getattr(self, f"_{kind}_callback_name", None)
                             for kind in ("success", "failure", "stopped"))
        if names_callback or self.func_name not in {spec.path for spec in registered().values()}:
            log.warning("refused job %s: it names a function that is not a registered job", self.id)
            raise UnregisteredJob(f"refused: {self.func_name!r} is not a registered job"
                                  + (" (and it names a callback)" if names_callback else ""))
        return super().func

    @property
    def success_callback(self):
        return None

    @property
    def failure_callback(self):
        return None

    @property
    def stopped_callback(self):
        return None


class _PromptCommands:
    """RQ listens for worker commands on a pubsub thread that blocks up to 60 s per read; since redis-py
    8.2 stopping that thread waits for the read, so a worker's shutdown (and every burst run) could hang
    a minute when the unsubscribe reply came in just before the stop. One second per read instead."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=1, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)


class PortalSimpleWorker(_PromptCommands, SimpleWorker):
    """Runs each job in the worker process (the default: low overhead)."""


class PortalForkWorker(_PromptCommands, Worker):
    """Forks a work horse per job (WORKER_CLASS=fork: isolation)."""


def build_worker(app: Flask, connection: redis.Redis, queues: list[str] | None = None) -> Worker:
    worker_class = PortalSimpleWorker if app.config["WORKER_CLASS"] == "simple" else PortalForkWorker
    return worker_class(
        [get_queue(app, q, connection) for q in (queues or ALL_QUEUES)],
        connection=connection, serializer=JSONSerializer, job_class=RegisteredJobsOnly,
        maintenance_interval=int(app.config["WORKER_MAINTENANCE_SECONDS"]),
        log_job_description=False,  # descriptions hold only ids, but keep job logs minimal anyway
    )


def warm_up(app: Flask) -> None:
    """What the first job would otherwise pay for, done once at start: compile the templates jobs
    render (bundle pages, mail, SMS: ~30 ms) and load the connected systems' drivers (~0.1 s each)."""
    wanted = ("bundle/", "emails/", "sms/")
    for name in app.jinja_env.list_templates():
        if name.startswith(wanted):
            app.jinja_env.get_template(name)
    for system in get_systems(app).values():
        try:
            system.connector.prepare()
        except Exception as exc:  # noqa: BLE001 (the export job reports it to staff, with retries)
            log.warning("system %s could not be prepared: %s", system.key, type(exc).__name__)


def run_worker(app: Flask, *, burst: bool = False, queues: list[str] | None = None,
               with_sweeper: bool = True) -> bool:
    use_app(app)
    if not burst:
        warm_up(app)
    broker.ensure_embedded(app)
    connection = broker.worker_connection(app)
    sweeper = Sweeper(app, connection) if with_sweeper and not burst else None
    if sweeper:
        sweeper.tick()  # publish leftovers before taking the first job
        sweeper.start()
    worker = build_worker(app, connection, queues)
    beacon = Beacon(app, connection, worker.name)
    beacon.start()
    try:
        return worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
    finally:
        beacon.stop()
        if sweeper:
            sweeper.stopping.set()
