"""The data-subject request portal."""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

REPO_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


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
    configure_blueprints(app)
    configure_cli(app)
    return app


def configure_app(app: Flask, config: Mapping[str, Any] | None) -> None:
    from dsr.config import is_weak_secret, load_config
    from dsr.controller import load_systems_file

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
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def configure_database(app: Flask) -> None:
    from dsr import db, jobs
    from dsr.connectors import registry

    db.init_app(app)
    # One session per request even when a test keeps an app context open across requests (the
    # request would otherwise reuse that context's session and its stale identity map).
    app.teardown_request(db._close_session)
    jobs.install_relay(app)
    registry.init_app(app)  # validates every [[systems]] declaration now, connects later


def configure_extensions(app: Flask) -> None:
    from dsr import i18n, web
    from dsr.auth import policy, roles, sessions

    i18n.init_app(app)
    web.init_app(app)
    policy.init_app(app)  # after web: a weak production key is refused before anything else
    sessions.init_app(app)
    roles.init_app(app)


def configure_blueprints(app: Flask) -> None:
    from dsr.auth.admin import bp as staff_admin
    from dsr.auth.views import bp as auth
    from dsr.cases.export_views import bp as export
    from dsr.cases.views import bp as cases
    from dsr.health import bp as health
    from dsr.identity.views import bp as identity
    from dsr.intake.case_views import bp as subject
    from dsr.intake.download_views import bp as download
    from dsr.intake.views import bp as intake

    for blueprint in (intake, identity, subject, download, health, auth, staff_admin, cases, export):
        app.register_blueprint(blueprint)


def configure_cli(app: Flask) -> None:
    from dsr.cli import dsr_group

    app.cli.add_command(dsr_group)
