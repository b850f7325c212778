"""A state machine over one status column, applied by compare-and-set.

Workers race: a task or a bundle may be taken over by another worker while this one still runs.
So a status never changes by assignment after a read; it changes by one UPDATE whose WHERE names the
states the event may leave (plus the caller's own guard, e.g. "my attempt"), and the row count says
whether it happened. Every allowed move is in the table; anything else is refused.
"""
from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


class IllegalMove(ValueError):
    def __init__(self, state: StrEnum, event: StrEnum):
        self.state, self.event = state, event
        super().__init__(f"cannot {event.value.replace('_', ' ')} from {state.value.replace('_', ' ')}")


class TransitionTable(Generic[S, E]):
    """`moves[(state, event)] = new state`; each event leads to one state, whatever it leaves."""

    def __init__(self, model, column: str, moves: Mapping[tuple[S, E], S]):
        self.model, self.column, self.moves = model, column, dict(moves)
        self._targets: dict[E, S] = {}
        for (_source, event), target in self.moves.items():
            if self._targets.setdefault(event, target) is not target:
                raise ValueError(f"event {event} leads to more than one state")

    def sources(self, event: E) -> list[S]:
        return [source for (source, moved), _target in self.moves.items() if moved is event]

    def target(self, state: S, event: E) -> S:
        try:
            return self.moves[(state, event)]
        except KeyError:
            raise IllegalMove(state, event) from None

    def allowed(self, state: S) -> list[E]:
        return [event for (source, event) in self.moves if source is state]

    def move(self, session: orm.Session, row_id: int, event: E, *, where: tuple = (), **values: Any) -> bool:
        """Apply `event` to the row if its state allows it and `where` holds; True when it moved.
        Flushes nothing else and does not commit (the caller's transaction decides)."""
        column = getattr(self.model, self.column)
        changed = session.execute(
            sa.update(self.model)
            .where(self.model.id == row_id, column.in_(self.sources(event)), *where)
            .values({self.column: self._targets[event], **values})
            .execution_options(synchronize_session=False)
        ).rowcount
        return bool(changed)
