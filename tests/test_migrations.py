"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dsr.db import Base, get_db
from dsr.migrate import current_revision


def test_migrated_schema_equals_the_models(app):
    with get_db(app).engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    assert differences == []


def test_db_upgrade_command_is_idempotent_and_reports_the_revision(app, runner):
    result = runner.invoke(args=["dsr", "db-upgrade"])
    assert result.exit_code == 0, result.output
    assert f"database at revision {current_revision(app)}" in result.output
    assert current_revision(app) is not None
