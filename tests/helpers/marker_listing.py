"""`-p tests.helpers.marker_listing`: after collection, write {nodeid: [marker names]} as JSON to the
file named by DSR_MARKER_LISTING (used by the test that checks which tests carry which markers)."""
from __future__ import annotations

import json
import os


def pytest_collection_finish(session) -> None:
    listing = {item.nodeid: sorted({mark.name for mark in item.iter_markers()}) for item in session.items}
    with open(os.environ["DSR_MARKER_LISTING"], "w", encoding="utf-8") as out:
        json.dump(listing, out)
