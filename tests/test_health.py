"""/healthz reports the database and the queue, and names what is down."""
from __future__ import annotations

from dsr import create_app
from dsr.db import get_db


def test_both_parts_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_queue_down_is_named(app_config, tmp_path):
    app_config["REDIS_URL"] = f"unix://{tmp_path}/nobody-listens.sock"
    app = create_app(app_config)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "queue": "unavailable"}
    get_db(app).dispose()


def test_database_down_is_named(app_config, tmp_path):
    app_config["DATABASE_URL"] = f"sqlite:///{tmp_path}/missing-dir/db.sqlite3"
    app = create_app(app_config)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable" and response.get_json()["queue"] == "ok"


def test_pages_carry_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
                      "form-action 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
