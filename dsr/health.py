"""/healthz: 200 when the database and the queue answer, 503 naming what does not."""
from __future__ import annotations

import logging

import redis
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from dsr.auth.policy import public
from dsr.db import get_db
from dsr.queue.broker import get_redis

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@public
def healthz():
    status = {"database": _database_state(), "queue": _queue_state()}
    healthy = all(value == "ok" for value in status.values())
    return jsonify({"status": "ok" if healthy else "unavailable", **status}), 200 if healthy else 503


def _database_state() -> str:
    try:
        with get_db().engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return "ok"
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health: database unavailable (%s)", type(exc).__name__)
        return "unavailable"


def _queue_state() -> str:
    try:
        get_redis(current_app).ping()
        return "ok"
    except (redis.RedisError, OSError) as exc:
        log.warning("health: queue unavailable (%s)", type(exc).__name__)
        return "unavailable"
