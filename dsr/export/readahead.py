"""Read a connector's batches on a helper thread while the job encodes the previous ones.

A database produces rows in its own process and a socket or SQLite's engine waits without
holding the GIL, so fetching batch n+1 while batch n is turned into JSON and CSV puts the
machine's second core to work. At most `depth` batches wait in the hand-over queue: memory
stays bounded whatever the export's size. The generator is started, advanced and closed on the
helper thread only, so its connection never crosses threads.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_DONE = object()
_POLL_SECONDS = 0.1
_JOIN_SECONDS = 2.0  # a producer that is not stuck stops within one poll; a stuck one is left


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


@contextmanager
def read_ahead(batches: Iterable, depth: int = 2) -> Iterator[Iterator]:
    """`with read_ahead(source) as items:` iterates `source` as it would directly, exceptions included."""
    handover: queue.Queue = queue.Queue(maxsize=depth)
    stopping = threading.Event()

    def offer(item) -> bool:
        while not stopping.is_set():
            try:
                handover.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(batches)
        try:
            for item in source:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, which raises it)
            offer(_Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # the generator's own cleanup (its connection) runs here, on this thread

    def consume() -> Iterator:
        while True:
            item = handover.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    worker = threading.Thread(target=produce, name="export-read-ahead", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stopping.set()
        while True:  # free a producer blocked on a full queue
            try:
                handover.get_nowait()
            except queue.Empty:
                break
        worker.join(_JOIN_SECONDS)
        if worker.is_alive():
            log.warning("export read-ahead thread still busy after %.0f s; left to finish alone", _JOIN_SECONDS)
