"""Fixtures and helpers for the export tests: the demo systems with a live chat API, approving a case."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.cases import states
from dsr.cases.states import Action
from dsr.db import get_db
from dsr.demo_systems.build import ensure_demo_data
from dsr.demo_systems.chat_server import start_in_thread
from dsr.demo_systems.people import KARI
from dsr.fulfilment import start_fulfilment
from dsr.models import ExportBundle, SubjectRequest, SystemTask

__all__ = ["KARI", "approve", "bundle_zip", "chat", "demo_app", "demo_session", "tasks_by_system"]


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
    application = create_app(app_config)
    yield application
    get_db(application).engine.dispose()
    client = application.extensions.get("dsr.redis")
    if client is not None:
        client.close()


@pytest.fixture
def demo_session(demo_app):
    with demo_app.app_context():
        session = get_db(demo_app).session()
        yield session
        session.close()


def approve(session, request: SubjectRequest) -> None:
    """What the staff area's approve button does: the transition and the fulfilment start, one commit."""
    states.apply(request, Action.APPROVE)
    start_fulfilment(session, request)
    session.commit()


def tasks_by_system(session, request_id: int) -> dict[str, SystemTask]:
    session.expire_all()
    return {t.system_key: t for t in session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request_id))}


def bundle_zip(session, request_id: int, staff_id: int = 1) -> tuple[ExportBundle, zipfile.ZipFile, bytes]:
    """The decrypted bundle (through the staff preview service)."""
    from dsr.export.delivery import open_staff_preview

    session.expire_all()
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == request_id))
    data = b"".join(open_staff_preview(session, bundle.id, staff_id).chunks)
    session.commit()
    return bundle, zipfile.ZipFile(io.BytesIO(data)), data
