"""The audit chain is sealed with a key kept outside the database (issue 13, finding 9; SECURITY-PLAN S40):
whoever can write the database can recompute a plain SHA-256 chain, but not the seals; on PostgreSQL the
table refuses UPDATE and DELETE; and a daily head written to a file shows a rewrite even by a key holder."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.audit.service import (
    GENESIS,
    audit_key,
    content_hash,
    record,
    record_audit_head,
    seal_of,
    verify,
    write_audit_head,
)
from dsr.config import ensure_instance_secrets
from dsr.models import AuditEvent
from dsr.queue.registry import job_spec
from tests.helpers.audit_tamper import tampering
from tests.helpers.skips import skip_reason


def _chain(session, n=5):
    for i in range(n):
        record(session, "case.viewed", actor_type="staff", actor_id=7, request_id=100 + i, field="status")
    session.commit()


def _rewrite_from(session, seq: int, **changes) -> None:
    """What an attacker with write access to the database does: change a row and recompute every later
    link of the plain SHA-256 chain, so a check without the key finds nothing wrong."""
    with tampering(session):
        events = session.scalars(sa.select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)).all()
        previous = session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
        for event in events:
            for name, value in changes.items():
                setattr(event, name, value)
            changes = {}
            if previous is not None:
                event.prev_hash = previous
            event.hash = content_hash(event)
            previous = event.hash


def test_a_rewritten_row_with_a_recomputed_sha_chain_is_caught_by_the_key(session, runner):
    _chain(session)
    _rewrite_from(session, 3, action="case.approved", details={"field": "decision"})
    session.expire_all()
    assert verify(session, key=None).ok  # the plain chain is consistent again: the key is what catches it
    result = runner.invoke(args=["dsr", "audit-verify"])
    assert (result.exit_code, result.stdout.strip()) == (1, "BAD 3"), result.output


def test_stripping_the_seals_does_not_help(session, runner):
    _chain(session)
    _rewrite_from(session, 4, details={"field": "other"}, mac=None)
    with tampering(session):
        session.execute(sa.update(AuditEvent).values(mac=None))
    result = runner.invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 1 and result.stdout.startswith("BAD "), result.output


def test_the_seal_needs_this_installations_key(app, session, runner):
    _chain(session, 2)
    assert runner.invoke(args=["dsr", "audit-verify"]).stdout.strip() == "OK 2"
    app.config["AUDIT_KEY"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    assert runner.invoke(args=["dsr", "audit-verify"]).stdout.strip() == "BAD 1"
    app.config["AUDIT_KEY"] = None
    result = runner.invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 2 and "DSR_AUDIT_KEY" in result.stderr and "OK" not in result.stdout


def test_the_daily_head_is_appended_to_a_private_file_and_a_later_rewrite_contradicts_it(app, session, runner):
    _chain(session, 3)
    head_file = app.config["AUDIT_HEAD_FILE"]
    result = runner.invoke(args=["dsr", "audit-head"])
    assert result.exit_code == 0
    line = Path(head_file).read_text().splitlines()[-1]
    last = session.scalar(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert f"seq=3\thash={last.hash}\tmac={last.mac}" in line and line in result.stdout
    assert stat.S_IMODE(os.stat(head_file).st_mode) == 0o600
    _chain(session, 2)
    with app.app_context():
        write_audit_head(session, head_file)
    assert len(Path(head_file).read_text().splitlines()) == 2  # appended, never rewritten
    assert runner.invoke(args=["dsr", "audit-verify"]).stdout.strip() == "OK 5"

    # Someone holding the key rewrites the whole chain, seals included: the head on file disagrees.
    with tampering(session):
        for event in session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all():
            if event.seq == 2:
                event.details = {"field": "forged"}
    rows = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
    with tampering(session), app.app_context():
        previous = GENESIS
        for event in rows:
            event.prev_hash = previous
            event.hash = content_hash(event)
            event.mac = seal_of(audit_key(), event.hash)
            previous = event.hash
    result = runner.invoke(args=["dsr", "audit-verify"])
    assert (result.exit_code, result.stdout.strip()) == (1, "BAD 3"), result.output
    assert "audit-head" in result.stderr


def test_the_head_is_written_by_a_daily_job(app, session):
    assert job_spec("record_audit_head").every == 86400
    _chain(session, 1)
    with app.app_context():
        assert "seq=1" in record_audit_head.body(session)
    assert "seq=1" in Path(app.config["AUDIT_HEAD_FILE"]).read_text()


def test_the_run_command_generates_the_audit_key_next_to_the_others(tmp_path):
    path = ensure_instance_secrets(tmp_path)
    first = json.loads(path.read_text())
    assert len(base64.urlsafe_b64decode(first["AUDIT_KEY"])) == 32
    # An instance made before the audit key existed gets one, and keeps its other keys.
    path.write_text(json.dumps({k: v for k, v in first.items() if k != "AUDIT_KEY"}))
    ensure_instance_secrets(tmp_path)
    second = json.loads(path.read_text())
    assert {k: v for k, v in second.items() if k != "AUDIT_KEY"} == {k: v for k, v in first.items()
                                                                     if k != "AUDIT_KEY"}
    assert second["AUDIT_KEY"] and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_production_refuses_to_serve_without_an_audit_key(tmp_path):
    base = {"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": "s" * 48,
            "REDIS_URL": "unix:///nonexistent/redis.sock"}
    refused = create_app(base).test_client().get("/", base_url="https://portal.example")
    assert refused.status_code == 503 and b"DSR_AUDIT_KEY" in refused.data
    served = create_app({**base, "AUDIT_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()})
    assert served.test_client().get("/", base_url="https://portal.example").status_code == 200


def test_a_worker_in_production_refuses_to_start_without_an_audit_key(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": "s" * 48,
                      "REDIS_URL": "unix:///nonexistent/redis.sock"})
    result = app.test_cli_runner().invoke(args=["dsr", "worker", "--burst"])
    assert result.exit_code == 2 and "DSR_AUDIT_KEY" in result.output


def test_on_postgresql_the_audit_table_refuses_update_and_delete(app, session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip(skip_reason("postgresql", "the append-only trigger exists on PostgreSQL only"))
    _chain(session, 2)
    for statement in (sa.update(AuditEvent).where(AuditEvent.seq == 1).values(action="case.approved"),
                      sa.delete(AuditEvent).where(AuditEvent.seq == 2)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            session.execute(statement)
        session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 2
