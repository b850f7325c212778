"""The connector contract: how the portal reads from and acts on one connected system.

A connector knows nothing of Flask or the portal's database. It is built from one
`[[systems]]` declaration in systems.toml, opens its connections lazily, and:

- `locate(identity)` finds the subject from the verified identity and returns the keys found
  (customer ids, ...) plus the contact details on file (the phone used for step-up comes
  from here, never from what the subject typed);
- `export(ref)` streams the subject's records, never holding them all in memory;
- `plan(ref, action, details)` is a dry run: what would change, what is retained and why;
- `apply(ref, plan)` carries the plan out, idempotently;
- `facts` are the system's declared Art. 15(1) facts.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar


class Origin(StrEnum):
    """Where a field's value came from; portability exports only what the subject provided."""

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
    """What the portal knows about the subject: the verified e-mail, and a phone once verified."""

    email: str
    phone: str | None = None


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


@dataclass
class Plan:
    """A dry run of an action on one system: what would change and what would be kept, and why."""

    system_key: str
    action: str
    changes: list[dict[str, Any]] = field(default_factory=list)  # {"collection", "count", "operation", ...}
    retained: list[dict[str, Any]] = field(default_factory=list)  # {"collection", "count", "ground", "until"}


@dataclass
class Outcome:
    system_key: str
    action: str
    changed: int = 0
    retained: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


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

    def plan(self, ref: SubjectRef, action: str, details: Mapping[str, Any]) -> Plan:
        raise NotImplementedError(f"{self.kind} systems cannot plan {action!r} yet")

    def apply(self, ref: SubjectRef, plan: Plan) -> Outcome:
        raise NotImplementedError(f"{self.kind} systems cannot apply {plan.action!r} yet")

    def prepare(self) -> None:
        """Load what the first job would otherwise wait for (a database driver), without connecting:
        called once when a worker starts. Problems are left for the job to report."""

    def close(self) -> None:
        """Release connections (called after each job)."""
