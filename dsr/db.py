"""Database wiring: declarative Base, engine and sessions per app, UTC datetimes.

Services take a Session and `flush()`; the caller (view, job, CLI) owns the commit.
"""
from __future__ import annotations

import functools
import os
import weakref
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import event, orm
from sqlalchemy.engine import Engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(orm.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC on every backend (SQLite stores naive text, PostgreSQL timestamptz)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "before_cursor_execute", _sqlite_begin_on_first_write)
        return engine
    # Every checkout pings first: a page that writes must never meet a connection the server has dropped.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def make_reading_engine(url: str) -> Engine:
    """PostgreSQL, for pages that only read (see reads_only): statements outside a transaction, and no
    ping before each checkout (a third of such a page's round trips). A connection the server dropped
    fails its first statement instead; the page then runs again on a fresh one."""
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=10)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets web, worker and sweeper read while one writes; busy_timeout waits instead of failing.
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin_on_first_write)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_SQLITE_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "SAVEPOINT")


def _sqlite_begin_on_first_write(connection, cursor, statement, parameters, context, executemany) -> None:
    """Read committed, SQLite style: reads run outside a transaction (they never block or hold a lock),
    and the first write opens BEGIN IMMEDIATE. A deferred transaction that read first and writes later
    fails at once with "database is locked" when another writer got in between; taking the write lock
    at the first write makes concurrent writers queue on busy_timeout instead, like PostgreSQL's default."""
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction and statement.lstrip()[:9].upper().startswith(_SQLITE_WRITES):
        dbapi_connection.execute("BEGIN IMMEDIATE")


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    # A forked child (RQ's work horse with WORKER_CLASS=fork) must never talk on the parent's pooled
    # connections: both would interleave on one socket. close=False leaves them open for the parent.
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


class Database:
    """Engine + session factory of one app, kept in app.extensions["dsr.db"]."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        _ENGINES.add(self.engine)
        self.sessionmaker = orm.sessionmaker(bind=self.engine, expire_on_commit=False)
        # Pages that only read have their own pool on PostgreSQL (see reads_only); SQLite's reads always
        # run outside a transaction, and its connections are files, not servers that drop them.
        self.reading_engine = self.engine
        if self.engine.dialect.name == "postgresql":
            self.reading_engine = make_reading_engine(url)
            _ENGINES.add(self.reading_engine)

    def session(self) -> orm.Session:
        return self.sessionmaker()

    def dispose(self) -> None:
        """Close every pooled connection (a test's end, a database dropped or restarted)."""
        self.engine.dispose()
        if self.reading_engine is not self.engine:
            self.reading_engine.dispose()


def init_app(app: Flask) -> None:
    database = app.extensions["dsr.db"] = Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_session)
    event.listen(database.sessionmaker, "after_commit", _run_on_commit)
    event.listen(database.sessionmaker, "after_rollback", _drop_on_commit)
    event.listen(database.sessionmaker, "before_flush", _refuse_flush_when_reading_only)
    event.listen(database.sessionmaker, "do_orm_execute", _refuse_writes_when_reading_only)


# --------------------------------------------------------------------------- pages that only read

_READS_ONLY = "dsr_reads_only"


class WriteInReadingView(RuntimeError):
    """A view marked @reads_only tried to change the database (its statements run outside a transaction)."""


def reads_only(view):
    """Mark a view that only reads the portal's database (the subject's busiest pages). On PostgreSQL its
    statements then run outside a transaction, as SQLite's reads already do (see
    _sqlite_begin_on_first_write): under read committed each statement takes its own snapshot either way,
    and the BEGIN and ROLLBACK round trips cost the database about 0.6 ms of CPU a page. A write from such
    a view would not be atomic, so it is refused (WriteInReadingView); the connection goes back to the pool
    in its usual transactional mode."""

    @functools.wraps(view)
    def reading(*args, **kwargs):
        session = get_session()
        session.info[_READS_ONLY] = True
        if session.in_transaction():  # a hook before the view has read on the usual engine already
            return view(*args, **kwargs)
        session.bind = get_db().reading_engine  # a connection only when the view asks something
        try:
            return view(*args, **kwargs)
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # The pooled connection had been dropped by the server (a restart, an administrator); the
            # pool now replaces every connection as old. Nothing was written, so the page runs again.
            session.rollback()
            return view(*args, **kwargs)

    return reading


def _refuse_flush_when_reading_only(session: orm.Session, _context, _instances) -> None:
    if session.info.get(_READS_ONLY):
        raise WriteInReadingView("a page marked @reads_only tried to store a change")


def _refuse_writes_when_reading_only(state: orm.ORMExecuteState) -> None:
    if state.session.info.get(_READS_ONLY) and (state.is_insert or state.is_update or state.is_delete):
        raise WriteInReadingView("a page marked @reads_only tried to run an INSERT, UPDATE or DELETE")


_ON_COMMIT = "dsr_on_commit"
_ON_ROLLBACK = "dsr_on_rollback"


def on_commit(session: orm.Session, callback) -> None:
    """Run `callback()` once the session's current transaction has committed (never if it rolls back):
    for side effects outside the database that must not happen unless the change is stored."""
    session.info.setdefault(_ON_COMMIT, []).append(callback)


def on_rollback(session: orm.Session, callback) -> None:
    """Run `callback()` if the session's current transaction rolls back (never once it committed): to undo a
    side effect made ahead of the commit, such as a file written to the store for the rows being added."""
    session.info.setdefault(_ON_ROLLBACK, []).append(callback)


def _run_on_commit(session: orm.Session) -> None:
    if session.in_nested_transaction():
        return  # a released savepoint: the real commit is still to come
    session.info.pop(_ON_ROLLBACK, None)
    for callback in session.info.pop(_ON_COMMIT, []):
        callback()


def _drop_on_commit(session: orm.Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_ON_COMMIT, None)
        for callback in session.info.pop(_ON_ROLLBACK, []):
            callback()


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["dsr.db"]


def get_session() -> orm.Session:
    """The app context's session (one per context, closed at teardown)."""
    if "_dsr_session" not in g:
        g._dsr_session = get_db().session()
    return g._dsr_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("_dsr_session", None)
    if session is not None:
        session.close()
