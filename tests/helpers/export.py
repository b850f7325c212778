"""Fixtures and helpers for the export tests: the demo systems with a live chat API, approving a case, a
warehouse system with many rows. Loaded as a plugin (tests/conftest.py); tests import the helpers by name."""
from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr.cases import states
from dsr.cases.states import Action
from dsr.db import utcnow
from dsr.demo_systems.build import ensure_demo_data
from dsr.demo_systems.chat_server import start_in_thread
from dsr.demo_systems.people import KARI
from dsr.export.delivery import open_staff_preview
from dsr.models import ExportBundle, RequestStatus, Right, SubjectRequest, SystemTask
from dsr.tasks.registry import start_work
from tests.helpers.apps import app_session, built_app
from tests.helpers.systems import system, write_systems


@pytest.fixture
def chat(monkeypatch):
    server = start_in_thread("test-chat-token")
    monkeypatch.setenv("DSR_DEMO_CHAT_URL", server.url)
    monkeypatch.setenv("DSR_DEMO_CHAT_TOKEN", "test-chat-token")
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo_app(app_config, chat):
    """The app on the example systems file with the demo data in its instance folder and the chat API up."""
    ensure_demo_data(Path(app_config["INSTANCE_PATH"]))
    with built_app(app_config) as application:
        yield application


@pytest.fixture
def demo_session(demo_app):
    with app_session(demo_app) as session:
        yield session


def approve(session, request: SubjectRequest) -> None:
    """What the staff area's approve button does: the transition and the fulfilment start, one commit."""
    states.apply(request, Action.APPROVE)
    request.decided_at = utcnow()
    start_work(session, request)
    session.commit()


def tasks_by_system(session, request_id: int) -> dict[str, SystemTask]:
    session.expire_all()
    return {t.system_key: t for t in session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request_id))}


def bundle_zip(session, request_id: int, staff_id: int = 1) -> tuple[ExportBundle, zipfile.ZipFile, bytes]:
    """The decrypted bundle (through the staff preview service)."""
    session.expire_all()
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request_id))
    data = b"".join(open_staff_preview(session, bundle.id, staff_id).chunks)
    session.commit()
    return bundle, zipfile.ZipFile(io.BytesIO(data)), data


def approved_access_case(session) -> SubjectRequest:
    """An access request for KARI, approved: its export tasks and their jobs are written."""
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ACCESS)
    session.add(request)
    session.commit()
    approve(session, request)
    return request


WAREHOUSE_SYSTEM = system(
    key="warehouse", name="Order warehouse", kind="sql", url="sqlite:///{instance}/warehouse.sqlite3",
    tables=[{"name": "customers", "identity": {"email": "email"}},
            {"name": "events", "links": [{"column": "customer_id", "to": "customers.id"}]}],
)


def make_warehouse(instance: Path, rows: int) -> None:
    """The warehouse database of WAREHOUSE_SYSTEM: KARI and `rows` events of hers."""
    db = sqlite3.connect(instance / "warehouse.sqlite3")
    db.executescript("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT);"
                     "CREATE TABLE events (id INTEGER PRIMARY KEY, customer_id INTEGER, kind TEXT, payload TEXT);"
                     "CREATE INDEX ix_events_customer ON events (customer_id);")
    db.execute("INSERT INTO customers VALUES (1, ?)", (KARI,))
    db.executemany("INSERT INTO events VALUES (?, 1, 'page_view', ?)",
                   ((i, f"/produkter/{i % 977}?ref=nyhetsbrev") for i in range(1, rows + 1)))
    db.commit()
    db.close()



def use_warehouse(app_config: dict, folder: Path, rows: int) -> Path:
    """Point the app at a systems file with WAREHOUSE_SYSTEM alone, its database holding `rows` events."""
    make_warehouse(Path(app_config["INSTANCE_PATH"]), rows)
    path = write_systems(folder, WAREHOUSE_SYSTEM)
    app_config["SYSTEMS_FILE"] = str(path)
    return path
