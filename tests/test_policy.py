"""Deny by default: every endpoint declares who may reach it; an undeclared one answers 404."""
from __future__ import annotations

from dsr import create_app
from dsr.auth.policy import Policy, unmapped_endpoints, with_policy


def test_every_endpoint_of_the_app_has_an_access_policy(app):
    assert unmapped_endpoints(app) == []


def test_an_endpoint_without_a_policy_is_refused(app_config):
    app = create_app(app_config)
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret page")
    assert unmapped_endpoints(app) == ["forgotten"]
    response = app.test_client().get("/forgotten")
    assert response.status_code == 404
    assert b"secret page" not in response.data


def test_a_policy_can_answer_instead_of_the_view(app_config):
    app = create_app(app_config)
    closed = Policy("closed", lambda: ("closed for maintenance", 503))
    app.add_url_rule("/closed", "closed", with_policy(closed)(lambda: "inside"))
    response = app.test_client().get("/closed")
    assert response.status_code == 503 and response.data == b"closed for maintenance"


def test_public_pages_and_health_answer_without_login(client):
    assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200
