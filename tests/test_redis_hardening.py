"""Redis is not a way in (issue 13, finding 10).

Whoever can write to Redis could enqueue a job naming any importable function (`os.remove`, ...): the
portal's workers run only the registered `@job` functions and refuse any other job, callbacks included,
without importing what it names. The embedded server's socket, when the instance path is too long for one,
lives in a folder of our own under the temp folder (0700, owned by us); a folder there that is not private
is refused, so a redis-server someone else started there is never trusted."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
from rq import Callback
from rq.job import Job
from rq.serializers import JSONSerializer

from dsr import create_app
from dsr.queue.broker import (
    EmbeddedRedis,
    embedded_socket_path,
    get_redis,
    redis_server_binary,
    worker_connection,
)
from dsr.queue.outbox import get_queue
from dsr.queue.registry import QUEUE_DEFAULT
from tests.helpers.jobs import run_jobs, spawn_worker, stop_worker, wait_until

MARKER = Path(tempfile.gettempdir()) / f"dsr-test-callback-{os.getpid()}"


def touch_marker(job, connection, *args) -> None:
    """A callback a forged job names: the test checks it never ran."""
    MARKER.write_text("ran")


def _fetch(app, job_id: str) -> Job:
    return Job.fetch(job_id, connection=get_redis(app), serializer=JSONSerializer)


def _refused(app, job_id: str) -> bool:
    job = _fetch(app, job_id)
    result = job.latest_result()
    return job.get_status() == "failed" and result is not None and "not a registered job" in result.exc_string


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("keep me")
    return path


def test_a_real_worker_refuses_a_job_naming_an_unregistered_function(app, victim):
    queue = get_queue(app, QUEUE_DEFAULT)
    forged = queue.enqueue("os.remove", str(victim))
    registered = queue.enqueue("dsr.notify.service.deliver_message", 10**6)  # a registered job still runs
    run_jobs(app)
    assert victim.exists(), "the worker ran os.remove"
    assert _refused(app, forged.id)
    assert _fetch(app, registered.id).get_status() == "finished"


def test_a_forking_worker_process_refuses_it_too(app, victim, tmp_path):
    app.config["WORKER_CLASS"] = "fork"
    forged = get_queue(app, QUEUE_DEFAULT).enqueue("os.remove", str(victim))
    worker = spawn_worker(app, tmp_path / "worker.log")
    try:
        wait_until(lambda: _fetch(app, forged.id).get_status() in ("failed", "finished"), timeout=30,
                   message="the forged job to be taken")
    finally:
        stop_worker(worker)
    assert victim.exists(), (tmp_path / "worker.log").read_text()
    assert _refused(app, forged.id)


def test_a_job_naming_a_callback_is_refused_and_the_callback_never_runs(app):
    MARKER.unlink(missing_ok=True)
    queue = get_queue(app, QUEUE_DEFAULT)
    forged = queue.enqueue("dsr.notify.service.deliver_message", 10**6,
                           on_success=Callback(f"{__name__}.touch_marker"),
                           on_failure=Callback(f"{__name__}.touch_marker"))
    run_jobs(app)
    try:
        assert not MARKER.exists()
        assert _refused(app, forged.id)
    finally:
        MARKER.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the embedded server's socket


@pytest.fixture
def long_instance(tmp_path, monkeypatch) -> Path:
    """An instance path too long for a unix socket, and a temp folder of this test's own (standing in for /tmp,
    which is shared by every user: world-writable, sticky)."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    instance = tmp_path / ("i" * 110)
    instance.mkdir()
    return instance


def _rogue_server(socket: Path) -> subprocess.Popen:
    """Someone else's redis-server, listening where the fallback socket goes."""
    process = subprocess.Popen([str(redis_server_binary()), "--port", "0", "--unixsocket", str(socket),
                                "--unixsocketperm", "777", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not socket.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert socket.exists()
    return process


def test_the_fallback_socket_is_in_a_folder_of_our_own_made_0700(long_instance):
    socket = embedded_socket_path(long_instance)
    assert socket.parent != Path(tempfile.gettempdir())  # not directly in the shared folder
    old_umask = os.umask(0)  # a lax umask changes nothing
    try:
        server = EmbeddedRedis(long_instance).start()
    finally:
        os.umask(old_umask)
    try:
        assert server.answers()
        info = os.lstat(socket.parent)
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()
    finally:
        server.stop()


def test_a_redis_answering_in_a_fallback_folder_that_is_not_private_is_never_trusted(long_instance):
    socket = embedded_socket_path(long_instance)
    folder = socket.parent
    folder.mkdir(exist_ok=True)
    folder.chmod(0o1777 if folder == Path(tempfile.gettempdir()) else 0o777)  # anyone may put a socket here
    rogue = _rogue_server(socket)
    try:
        assert redis.Redis(unix_socket_path=str(socket)).ping()  # it does answer
        server = EmbeddedRedis(long_instance)
        assert not server.answers()
        with pytest.raises(PermissionError, match="not private"):
            server.start()
        assert rogue.poll() is None and server.process is None  # nothing of ours started or stopped
    finally:
        rogue.terminate()
        rogue.wait(10)


def test_clients_refuse_the_fallback_socket_in_a_folder_that_is_not_private(app_config, long_instance):
    socket = embedded_socket_path(long_instance)
    socket.parent.mkdir(exist_ok=True)
    socket.parent.chmod(0o1777 if socket.parent == Path(tempfile.gettempdir()) else 0o777)
    rogue = _rogue_server(socket)
    try:
        app = create_app({**app_config, "REDIS_URL": None, "INSTANCE_PATH": str(long_instance)})
        for client in (get_redis(app), worker_connection(app)):
            with pytest.raises(redis.ConnectionError, match="not private"):
                client.ping()
    finally:
        rogue.terminate()
        rogue.wait(10)


def test_a_symlink_in_place_of_the_fallback_folder_is_refused(long_instance, tmp_path):
    socket = embedded_socket_path(long_instance)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if socket.parent == Path(tempfile.gettempdir()):
        pytest.fail("the fallback socket sits directly in the shared temp folder")
    socket.parent.symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="not private"):
        EmbeddedRedis(long_instance).start()
