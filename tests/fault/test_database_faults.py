"""F8: the database refuses connections. Pages answer 503 with a plain message (never a 500, never
a false "received"), health names the database, and everything works again once it is back."""
from __future__ import annotations

import itertools

import sqlalchemy as sa

from dsr import create_app
from dsr.auth.policy import public
from dsr.db import get_db, get_session
from dsr.migrate import upgrade
from dsr.models import StaffUser


def _app_on(server, app_config):
    app_config["DATABASE_URL"] = server.url
    app = create_app(app_config)
    upgrade(app)

    numbers = itertools.count()

    @public
    def write_something():  # stands for any page that stores what a visitor sent
        session = get_session()
        session.add(StaffUser(email=f"probe{next(numbers)}@example.org", password_hash="x"))
        session.commit()
        return "received"

    app.add_url_rule("/probe", "probe", write_something, methods=["POST"])
    return app


def test_a_database_outage_answers_503_and_recovers(private_postgres, app_config):
    app = _app_on(private_postgres, app_config)
    client = app.test_client()
    assert client.post("/probe").data == b"received"

    private_postgres.kill()
    response = client.post("/probe?lang=en")
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert b"nothing was stored" in response.data and b"received" not in response.data
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"] == "unavailable"

    private_postgres.start()
    assert client.post("/probe").data == b"received"
    with get_db(app).session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 2
    get_db(app).dispose()
