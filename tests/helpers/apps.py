"""An app built for one test, its connections closed after it; a database session inside its context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import orm

from dsr import create_app
from dsr.db import get_db


@contextmanager
def built_app(app_config: dict) -> Iterator[Flask]:
    application = create_app(app_config)
    try:
        yield application
    finally:
        get_db(application).dispose()
        client = application.extensions.get("dsr.redis")
        if client is not None:
            client.close()


@contextmanager
def app_session(application: Flask) -> Iterator[orm.Session]:
    with application.app_context():
        session = get_db(application).session()
        try:
            yield session
        finally:
            session.close()
