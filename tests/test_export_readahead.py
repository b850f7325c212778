"""The export reads a connector's batches one step ahead on a helper thread: same items, same errors,
and the source (its database connection) is closed on every way out."""
from __future__ import annotations

import threading

import pytest

from dsr.connectors.base import PermanentConnectorError
from dsr.export.readahead import read_ahead


def test_batches_arrive_in_order_and_memory_stays_bounded():
    produced = []

    def source():
        for n in range(50):
            produced.append(n)
            yield n

    seen = []
    with read_ahead(source(), depth=2) as items:
        for item in items:
            # the helper never runs more than the queue depth (+1 in hand) ahead of the consumer
            assert len(produced) - len(seen) <= 4
            seen.append(item)
    assert seen == list(range(50))


def test_a_connector_error_mid_stream_reaches_the_job_after_the_batches_before_it():
    def source():
        yield "first"
        yield "second"
        raise PermanentConnectorError("crm refused the query")

    seen = []
    with pytest.raises(PermanentConnectorError, match="crm refused the query") as caught:
        with read_ahead(source()) as items:
            for item in items:
                seen.append(item)
    assert seen == ["first", "second"]
    assert caught.value.retryable is False


def test_the_source_is_closed_on_its_own_thread_when_the_job_stops_early():
    closed_on = []
    started_on = []

    def source():
        started_on.append(threading.current_thread())
        try:
            for n in range(10_000):
                yield n
        finally:
            closed_on.append(threading.current_thread())

    with pytest.raises(RuntimeError):
        with read_ahead(source()) as items:
            for item in items:
                if item == 3:
                    raise RuntimeError("lease lost")
    assert closed_on == started_on  # closed, and by the thread that opened it
    assert closed_on[0] is not threading.current_thread()
    assert not any(t.name == "export-read-ahead" for t in threading.enumerate())
