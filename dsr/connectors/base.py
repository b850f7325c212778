"""The connector contract: how the portal reads from and acts on one connected system.

A connector knows nothing of Flask or the portal's database. It is built from one
`[[systems]]` declaration in systems.toml, opens its connections lazily, and:

- `locate(identity)` finds the subject from the verified identity and returns the keys found
  (customer ids, ...) plus the contact details on file (the phone used for step-up comes
  from here, never from what the subject typed);
- `export(ref)` streams the subject's records, never holding them all in memory;
- `plan(ref, action, details, today)` is a dry run: what would change, what is retained and why;
- `apply(ref, plan)` carries the plan out, idempotently; `prove(ref, plan)` looks again afterwards;
- `facts` are the system's declared Art. 15(1) facts.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar


class Origin(StrEnum):
    """Where a field's value came from. Portability (Art. 20) exports what the subject provided and what was
    observed from their use of the service, never what was derived (WP242 rev.01, section III.1)."""

    PROVIDED = "provided"
    OBSERVED = "observed"
    DERIVED = "derived"


class ConnectorError(Exception):
    """A system could not answer. The message is shown to staff, so it must hold no personal data."""

    retryable: bool = True


class PermanentConnectorError(ConnectorError):
    retryable = False


class DeclarationError(ValueError):
    """A `[[systems]]` entry is wrong; `key` is the dotted key within the entry (e.g. "tables.0.identity")."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class Identity:
    """What the portal knows about the subject: the verified e-mail (None for someone without one, e.g. a
    request by post), a phone once staff vouched for it, and identifiers the request form asked for because
    a system needs them (e.g. {"ga_client_id": "1234567890.1700000000"}: the subject's own statement, used
    only by the system that asked)."""

    email: str | None
    phone: str | None = None
    identifiers: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass
class SubjectRef:
    """The result of `locate`: empty `keys` means the system holds nothing on this subject."""

    system_key: str
    keys: dict[str, list[Any]] = field(default_factory=dict)  # e.g. {"contacts.id": [12]}
    phones: list[str] = field(default_factory=list)  # E.164 numbers on file
    emails: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return any(self.keys.values())

    def to_json(self) -> dict[str, Any]:
        return {"system_key": self.system_key, "keys": self.keys, "phones": self.phones, "emails": self.emails}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubjectRef:
        return cls(system_key=data["system_key"], keys={k: list(v) for k, v in data.get("keys", {}).items()},
                   phones=list(data.get("phones", [])), emails=list(data.get("emails", [])))


@dataclass(frozen=True)
class Record:
    """One exported row or document."""

    collection: str
    data: dict[str, Any]
    origins: dict[str, Origin] = field(default_factory=dict)  # field -> origin; missing = observed


@dataclass(frozen=True)
class CollectionRules:
    """What the export needs to know of one collection besides its records: the field that identifies a
    record (staff name rows by it when they redact, a delta bundle compares by it), and the declared
    portability (`portable = false` on the table or collection, `portable = true|false` per field)."""

    key_field: str | None = None
    portable: bool = True
    field_portable: Mapping[str, bool] = field(default_factory=dict, hash=False)

    def is_portable(self, name: str, origin: Origin) -> bool:
        """Derived data never is (WP242: inferred and derived data are not "provided by" the subject); a
        field's own setting wins over its table's; otherwise provided and observed data are."""
        if origin is Origin.DERIVED:
            return False
        return self.field_portable.get(name, self.portable)


NO_RULES = CollectionRules()


@dataclass(frozen=True)
class Facts:
    """Art. 15(1)(a)-(h) facts the controller declares for a system."""

    purposes: tuple[str, ...]
    legal_basis: str
    categories: tuple[str, ...]
    recipients: tuple[str, ...]
    retention: str
    source: str
    third_country_transfers: str = "None"
    automated_decisions: str = "None"

    REQUIRED: ClassVar[tuple[str, ...]] = ("purposes", "legal_basis", "categories", "recipients", "retention",
                                          "source")


class Action(StrEnum):
    """What the portal can ask a system to do about one subject, besides exporting."""

    ERASE = "erase"  # Art. 17, holds respected
    RECTIFY = "rectify"  # Art. 16
    RESTRICT = "restrict"  # Art. 18: set the declared marker
    LIFT_RESTRICTION = "lift_restriction"  # Art. 18(3), after the subject was told
    STOP = "stop"  # Art. 21(3) objection to direct marketing, Art. 7(3) consent withdrawn: stop that processing


@dataclass
class Change:
    """One operation of a plan. `keys` are the rows (or items) it touches, frozen at planning so that
    apply touches exactly those; `values` are the new values of an update (rectification)."""

    collection: str
    operation: str  # delete | null | mask | update | flag | unflag | suppress | unsuppress | remove | call | stop
    count: int
    fields: list[str] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # what an API call or a person does, in words for staff


@dataclass
class Kept:
    """Rows an erasure keeps under a legal hold (Art. 17(3)(b)), and until when (None: no end date)."""

    collection: str
    count: int
    hold: str
    ground: str
    until: str | None  # ISO date
    fields: list[str] = field(default_factory=list)  # what the kept rows still hold
    keys: list[Any] = field(default_factory=list)


@dataclass
class Plan:
    """A dry run of an action on one system: what would change and what would be kept, and why."""

    system_key: str
    action: str
    changes: list[Change] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)  # steps a person must do (a checklist)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.manual

    def to_json(self) -> dict[str, Any]:
        return {"system_key": self.system_key, "action": self.action,
                "changes": [vars(change) for change in self.changes], "kept": [vars(kept) for kept in self.kept],
                "manual": list(self.manual)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(system_key=data["system_key"], action=data["action"],
                   changes=[Change(**change) for change in data.get("changes", [])],
                   kept=[Kept(**kept) for kept in data.get("kept", [])], manual=list(data.get("manual", [])))


@dataclass
class Proof:
    """What the system holds after apply, checked against the plan. Counts and a digest only: no values."""

    ok: bool
    found: dict[str, int] = field(default_factory=dict)  # collection -> records found now
    problems: list[str] = field(default_factory=list)  # what does not match, in words for staff
    digest: str = ""  # SHA-256 over what remains, for the audit log

    def to_json(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass(frozen=True)
class Processing:
    """A use of the subject's data that the subject can stop: withdrawing the consent it rests on
    (basis "consent") or objecting to direct marketing (basis "direct_marketing"), or both."""

    key: str
    name: str
    name_nb: str | None
    bases: frozenset[str]


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may use from its surroundings (no Flask)."""

    instance_path: Path
    storage_dir: Path
    environ: Mapping[str, str]
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


class Connector(ABC):
    kind: ClassVar[str]

    def __init__(self, key: str, name: str, facts: Facts, settings: dict[str, Any], context: ConnectorContext):
        self.key, self.name, self.facts, self.settings, self.context = key, name, facts, settings, context

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        """Raise DeclarationError for a wrong kind-specific setting. Must not connect anywhere."""

    @abstractmethod
    def locate(self, identity: Identity) -> SubjectRef:
        raise NotImplementedError

    @abstractmethod
    def export(self, ref: SubjectRef) -> Iterator[Record]:
        raise NotImplementedError

    def actions(self) -> frozenset[Action]:
        """What this system does by itself; anything else becomes a task for a person."""
        return frozenset()

    def collection_rules(self) -> Mapping[str, CollectionRules]:
        """Per collection: its record key field and declared portability (missing: NO_RULES)."""
        return {}

    def processing(self) -> list[Processing]:
        """The uses of data a subject can stop in this system (declared `[[systems.processing]]`)."""
        return []

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any], today: date) -> Plan:
        """A dry run: what `action` would change and keep. `details`: for RECTIFY {"values": {collection:
        {field: new value}}}, for STOP {"processing": [keys]}. Only called for an action in `actions()`."""
        raise PermanentConnectorError(f"{self.kind} systems do not {action.value} by themselves")

    def apply(self, ref: SubjectRef, plan: Plan) -> int:
        """Carry the plan out; idempotent (a second run changes nothing more). Returns what changed."""
        raise PermanentConnectorError(f"{self.kind} systems do not {plan.action} by themselves")

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        """After apply: look again and compare with the plan."""
        raise PermanentConnectorError(f"{self.kind} systems cannot check {plan.action}")

    def steps_by_hand(self, ref: SubjectRef, action: Action) -> list[str]:
        """What a person does here for an action this system does not do by itself (`[systems.by_hand]`),
        beyond the portal's generic checklist; may list what was found. Empty: the generic checklist."""
        return []

    def identifiers_asked(self) -> tuple[str, ...]:
        """Identifiers besides the e-mail this system needs, which the request form then asks for."""
        return ()

    def prepare(self) -> None:
        """Load what the first job would otherwise wait for (a database driver), without connecting:
        called once when a worker starts. Problems are left for the job to report."""

    def close(self) -> None:
        """Release connections (called after each job)."""
