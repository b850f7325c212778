"""A connected system that answers the lookup, sends one batch of records, then never sends another:
a socket read that never returns, as a wedged database or API gives (SECURITY-PLAN F12).

Apps (and worker subprocesses) load it with CONNECTOR_MODULES="tests.hanging_connector".
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from dsr.connectors.base import Connector, Identity, Origin, Record, SubjectRef
from dsr.connectors.registry import kind

MODULE = "tests.hanging_connector"

SYSTEM = '''
[[systems]]
key = "wedged"
name = "Wedged warehouse"
kind = "test_hanging"

[systems.facts]
purposes = ["Orders"]
legal_basis = "Contract"
categories = ["Orders"]
recipients = ["None"]
retention = "5 years"
source = "You"
'''


@kind("test_hanging")
class HangingConnector(Connector):
    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        pass

    def locate(self, identity: Identity) -> SubjectRef:
        return SubjectRef(self.key, keys={"orders.id": [1]})

    def export_batches(self, ref: SubjectRef):
        yield "orders", ["id", "item"], {"id": Origin.OBSERVED, "item": Origin.PROVIDED}, [(1, "bok")]
        while True:  # the next FETCH never comes back
            time.sleep(3600)

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        for collection, columns, origins, rows in self.export_batches(ref):
            for row in rows:
                yield Record(collection, dict(zip(columns, row)), origins)
