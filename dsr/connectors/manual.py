"""`kind = "manual"`: a system a person must search (a shared mailbox, a paper archive).

Nothing is located or exported automatically: the export job puts the system's task in
"waiting for staff" with its own due date (`due_days` after approval), and a case handler
then uploads what was found or confirms that nothing was (dsr.export.manual). `[systems.by_hand]` may
say what a person does for an erasure, a restriction or a stop here (a pixel with no per-person API says
so), instead of the portal's generic checklist.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dsr.connectors import by_hand, declaration
from dsr.connectors.base import Action, Connector, DeclarationError, Identity, Processing, Record, SubjectRef
from dsr.connectors.registry import kind


@kind("manual")
class ManualConnector(Connector):
    needs_person = True

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        declaration.need_str(settings, "instructions")
        days = settings.get("due_days", 5)
        if isinstance(days, bool) or not isinstance(days, int) or not 0 < days <= 30:
            raise DeclarationError("due_days", "must be a whole number of days from 1 to 30")
        declaration.read_default_origin(settings)
        declaration.validate_translated_facts(settings)
        by_hand.read_by_hand(settings, None)
        declaration.read_processing(settings)

    @property
    def instructions(self) -> str:
        return self.settings["instructions"]

    @property
    def due_days(self) -> int:
        return int(self.settings.get("due_days", 5))

    def locate(self, identity: Identity) -> SubjectRef:
        """A person searches; until they have, the portal cannot know (and says nothing is known)."""
        return SubjectRef(system_key=self.key)

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        """What staff upload goes into the bundle as a file (see dsr.export.manual.complete_manual_task)."""
        return iter(())

    def collections(self) -> list[str]:
        return []

    def processing(self) -> list[Processing]:
        """What a subject can stop here (`[[systems.processing]]`); a person stops it, from `by_hand.stop`."""
        return [item for item, _ in declaration.read_processing(self.settings)]

    def steps_by_hand(self, ref: SubjectRef, action: Action) -> list[str]:
        entry = by_hand.read_by_hand(self.settings, None).get(action)
        return list(entry["steps"]) if entry else []
