"""The data-subject request portal: `create_app` builds it.

The factory may import any part (it wires them together); everything it imports is imported here,
at the top, so any process that built an app knows every blueprint, CLI command and job.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from dsr import db, i18n, sitewide
from dsr.actions import panel, starting, work  # noqa: F401 (the case panel, starters, jobs, task kinds)
from dsr.actions import sweep as actions_sweep  # noqa: F401 (the periodic sweep job)
from dsr.actions.views import bp as actions
from dsr.auth import policy, roles, sessions
from dsr.auth.admin import bp as staff_admin
from dsr.auth.views import bp as auth
from dsr.canary import service as canary  # noqa: F401 (the nightly canary jobs)
from dsr.cases import decision_views, post_views, reminders, views  # noqa: F401 (routes, the reminder job)
from dsr.cases.pages import bp as cases
from dsr.cli import dsr_group
from dsr.config import REPO_ROOT, is_weak_secret, load_config
from dsr.connectors import registry
from dsr.controller import load_systems_file
from dsr.export import (  # noqa: F401 (routes, the case panels, jobs)
    delta,
    download_views,
    medium_views,
    no_data,
    no_data_views,
    receiver_views,
    review,
    review_views,
)
from dsr.export import staff_views as export_staff_views  # noqa: F401 (routes)
from dsr.export import sweep as export_sweep  # noqa: F401 (the periodic sweep job)
from dsr.export.pages import bp as export
from dsr.fees import panel as fee_panel  # noqa: F401 (the case panel)
from dsr.fees.views import bp as fees
from dsr.health import bp as health
from dsr.identity import expiry, lookup  # noqa: F401 (jobs register)
from dsr.identity.views import bp as identity
from dsr.intake import staff_views as intake_staff_views  # noqa: F401 (the staff register page's route)
from dsr.intake.views import bp as intake
from dsr.queue.outbox import install_relay
from dsr.representation.views import bp as representation
from dsr.retention import service as retention  # noqa: F401 (the periodic retention job)
from dsr.subject.views import bp as subject

__all__ = ["REPO_ROOT", "create_app"]
log = logging.getLogger(__name__)

BLUEPRINTS = (intake, identity, subject, export, health, auth, staff_admin, cases, actions, representation, fees)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: configuration, database, queue relay, extensions, blueprints, CLI."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("DSR_INSTANCE_PATH") \
        or str(REPO_ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        instance_relative_config=True,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
    )
    configure_app(app, config)
    configure_database(app)
    configure_extensions(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.cli.add_command(dsr_group)
    return app


def configure_app(app: Flask, config: Mapping[str, Any] | None) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    load_config(app, config, os.environ)
    if config and config.get("TESTING"):
        app.testing = True
    production = app.config["ENV"] == "production"
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        SESSION_COOKIE_NAME="__Host-dsr" if production else "dsr",
        # Pages under /staff use their own cookie, SameSite=Strict (dsr.auth.cookies).
        STAFF_SESSION_COOKIE_NAME="__Host-dsr-staff" if production else "dsr-staff",
        WTF_CSRF_SSL_STRICT=production,
    )
    if app.config["SECRET_KEY"] is None and not production:
        # Development from a fresh clone before the run command wrote instance/secrets.json:
        # pages work, but nothing signed survives a restart.
        app.config["SECRET_KEY"] = os.urandom(32).hex()
    app.config["DSR_WEAK_KEY"] = production and is_weak_secret(app.config["SECRET_KEY"])
    systems = load_systems_file(app.config["SYSTEMS_FILE"])
    app.extensions["dsr.systems_file"] = systems
    app.extensions["dsr.controller"] = systems.controller
    if app.config["PROXY_HOPS"]:
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def configure_database(app: Flask) -> None:
    db.init_app(app)
    # One session per request even when a test keeps an app context open across requests (the
    # request would otherwise reuse that context's session and its stale identity map).
    app.teardown_request(db._close_session)
    install_relay(app)
    registry.init_app(app)  # validates every [[systems]] declaration now, connects later


def configure_extensions(app: Flask) -> None:
    i18n.init_app(app)
    sitewide.init_app(app)
    policy.init_app(app)  # after sitewide: a weak production key is refused before anything else
    sessions.init_app(app)
    roles.init_app(app)
