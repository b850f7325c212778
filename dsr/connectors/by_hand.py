"""`[systems.by_hand]`: what a person does in a system for an action it cannot do by itself.

    [systems.by_hand]
    erase = { steps = ["Open each message below and delete it ..."], list = "messages",
              item = "{subject}: from {from.emailAddress.address}, {receivedDateTime} ({webLink})" }

`steps` are sentences for staff; `list` (http systems only) names a collection whose records found for
the subject are listed one line each, written from `item` (placeholders are the record's fields, dotted
paths allowed). The lines go on the task, for the staff who do it; they are never logged.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dsr.connectors import declaration
from dsr.connectors.base import Action, DeclarationError
from dsr.connectors.http_shapes import PLACEHOLDER, value_at

ACTIONS = {action.value: action for action in Action}
MAX_LINES = 200


def read_by_hand(settings: Mapping[str, Any], collections: Iterable[str] | None) -> dict[Action, dict[str, Any]]:
    """The declared steps per action; `collections`: what `list` may name (None: no listing here)."""
    table = declaration.need_table(settings, "by_hand")
    found: dict[Action, dict[str, Any]] = {}
    names = list(collections or ())
    for name, entry in table.items():
        prefix = f"by_hand.{name}."
        if name not in ACTIONS:
            raise DeclarationError(f"by_hand.{name}", f"is not an action (one of {sorted(ACTIONS)})")
        if not isinstance(entry, dict):
            raise DeclarationError(f"by_hand.{name}", "must be a table { steps = [...] }")
        unknown = set(entry) - {"steps", "list", "item"}
        if unknown:
            raise DeclarationError(prefix + min(unknown), "is not a setting of by_hand (steps, list, item)")
        steps = entry.get("steps")
        if not isinstance(steps, list) or not steps or not all(isinstance(s, str) and s.strip() for s in steps):
            raise DeclarationError(prefix + "steps", "must list what the person does, one sentence each")
        listed = entry.get("list")
        if listed is not None:
            if collections is None:
                raise DeclarationError(prefix + "list", "a system of this kind has no collections to list")
            if listed not in names:
                raise DeclarationError(prefix + "list", f"must name a declared collection ({', '.join(names)})")
            item = declaration.need_str(entry, "item", prefix=prefix)
            if not PLACEHOLDER.search(item):
                raise DeclarationError(prefix + "item", "must show at least one {field} of the record")
        elif entry.get("item") is not None:
            raise DeclarationError(prefix + "item", "needs list = \"<collection>\"")
        found[ACTIONS[name]] = entry
    return found


def render_line(template: str, record: Mapping[str, Any]) -> str:
    """One listed record in words; a field the record lacks shows as "–"."""
    def fill(match) -> str:
        value = value_at(record, match.group(1))
        return "–" if value in (None, "") else " ".join(str(value).split())[:300]

    return PLACEHOLDER.sub(fill, template)
