"""What approval sets in motion, per right. Areas register a starter; a right without one is
handled by staff by hand (the case stays in progress until they complete it).

A starter runs inside the approving transaction: it writes tasks and defers jobs through the
outbox, so approval and the work it starts commit together.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from sqlalchemy import orm

from dsr.models import Right, SubjectRequest

# Modules that register starters when imported (each area adds its own).
STARTER_MODULES: tuple[str, ...] = ()

Starter = Callable[[orm.Session, SubjectRequest], None]
_STARTERS: dict[Right, Starter] = {}
_loaded = False


def starter(*rights: Right) -> Callable[[Starter], Starter]:
    def register(function: Starter) -> Starter:
        for right in rights:
            _STARTERS[right] = function
        return function

    return register


def start_fulfilment(session: orm.Session, request: SubjectRequest) -> bool:
    """Start the automated part of answering `request`; False when staff handle it by hand."""
    global _loaded
    if not _loaded:
        for module in STARTER_MODULES:
            importlib.import_module(module)
        _loaded = True
    start = _STARTERS.get(request.right)
    if start is None:
        return False
    start(session, request)
    return True
