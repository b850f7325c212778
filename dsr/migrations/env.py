"""Alembic environment: uses the app's engine when given one, else the configured URL."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import dsr.models  # noqa: F401  (complete metadata)
from dsr.db import Base, UTCDateTime
from dsr.models.types import StrEnumType

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    """Write our column types as plain SQLAlchemy types: migrations must not import app code."""
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.impl.length})"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"),
                                                               poolclass=pool.NullPool)
    with engine.connect() as connection:
        # render_as_batch: SQLite can only ALTER by copying tables; batch mode does that for us.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True, render_item=render_item)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
