"""Pages that only read (@reads_only): the subject's case page and the "request received" page.

On PostgreSQL their statements run outside a transaction (as SQLite's reads always do): each statement
takes its own snapshot under read committed either way, and the BEGIN and ROLLBACK round trips were a
third of the database's work on the busiest page. What must hold: the pages show what they showed, a
connection goes back to the pool ready for atomic writes, and such a page can never store anything."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlalchemy import event

from dsr.auth.policy import public
from dsr.db import WriteInReadingView, get_db, get_session, reads_only
from dsr.models import SubjectRequest
from tests.helpers.people import OLA, file_request, open_case, use_directory
from tests.helpers.skips import skip_reason


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def _needs_postgresql(app) -> None:
    if get_db(app).engine.dialect.name != "postgresql":
        pytest.skip(skip_reason("postgresql", "transactions of reading pages differ on PostgreSQL only"))


def _transaction_states_of(app, page: Callable[[], object]) -> list[str]:
    """The connection's transaction state after each statement the page ran."""
    states: list[str] = []

    def after(connection, _cursor, _statement, _parameters, _context, _executemany):
        states.append(TransactionStatus(connection.connection.dbapi_connection.info.transaction_status).name)

    engines = {get_db(app).engine, get_db(app).reading_engine}
    for engine in engines:
        event.listen(engine, "after_cursor_execute", after)
    try:
        page()
    finally:
        for engine in engines:
            event.remove(engine, "after_cursor_execute", after)
    return states


def test_the_case_page_reads_outside_a_transaction_and_leaves_the_pool_transactional(app, client, session):
    _needs_postgresql(app)
    case = open_case(app, client, session)
    shown = []
    states = _transaction_states_of(app, lambda: shown.append(client.get(f"/case/{case.public_id}")))
    assert shown[0].status_code == 200 and case.reference in shown[0].get_data(as_text=True)
    assert states and set(states) == {"IDLE"}  # no statement left a transaction open

    # every idle connection is back in its usual mode: a write on it waits for its COMMIT
    engine = get_db(app).engine
    idle = [engine.raw_connection() for _ in range(engine.pool.checkedin())]
    try:
        assert idle and not any(connection.driver_connection.autocommit for connection in idle)
    finally:
        for connection in idle:
            connection.close()

    # and a page that writes still writes atomically: its statements run in one transaction
    written = _transaction_states_of(
        app, lambda: client.post(f"/case/{case.public_id}/reply", data={"message": "Any news?"}))
    assert "INTRANS" in written


def test_the_case_page_shows_after_the_server_dropped_its_pooled_connections(app, client, session):
    _needs_postgresql(app)
    case = open_case(app, client, session)
    page, reference = f"/case/{case.public_id}", case.reference
    session.close()  # this test's own session holds no connection either
    assert client.get(page).status_code == 200  # the reading pool holds a connection now
    assert get_db(app).reading_engine.pool.checkedin() >= 1

    # a restart or an administrator ends every other session on the database
    with get_db(app).engine.connect() as admin:
        ended = admin.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    assert ended >= 1

    # no ping comes first on a reading page: its first statement meets the dropped connection, and the
    # page runs again on a fresh one
    shown: list = []
    states = _transaction_states_of(app, lambda: shown.append(client.get(page)))
    assert shown[0].status_code == 200 and reference in shown[0].get_data(as_text=True)
    assert states and set(states) == {"IDLE"}


def test_the_received_page_reads_outside_a_transaction(app, client):
    _needs_postgresql(app)
    filed = file_request(client, "access", email=OLA["email"])
    assert filed.status_code == 303
    shown = []
    states = _transaction_states_of(app, lambda: shown.append(client.get(filed.headers["Location"])))
    assert shown[0].status_code == 200 and "Request received" in shown[0].get_data(as_text=True)
    assert states and set(states) == {"IDLE"}


def test_a_reading_page_that_tries_to_store_a_change_fails_and_stores_nothing(app, client, session, make_request,
                                                                              caplog):
    request = make_request(full_name="Ola Nordmann")

    @app.get("/test-only/rename/<int:request_id>")
    @public
    @reads_only
    def rename(request_id: int):
        get_session().get(SubjectRequest, request_id).full_name = "Changed By A Reading Page"
        get_session().commit()
        return "stored"

    @app.get("/test-only/update/<int:request_id>")
    @public
    @reads_only
    def update(request_id: int):
        get_session().execute(sa.update(SubjectRequest).where(SubjectRequest.id == request_id)
                              .values(full_name="Changed By A Reading Page"))
        get_session().commit()
        return "stored"

    for path in (f"/test-only/rename/{request.id}", f"/test-only/update/{request.id}"):
        with caplog.at_level(logging.ERROR):
            assert client.get(path).status_code == 500  # the error page, with an incident number
        assert any(isinstance(record.exc_info and record.exc_info[1], WriteInReadingView) for record in caplog.records)
        caplog.clear()
    session.expire_all()
    assert session.get(SubjectRequest, request.id).full_name == "Ola Nordmann"
