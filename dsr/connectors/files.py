"""`kind = "files"`: a CSV, JSON-lines or JSON file on disk (e.g. a newsletter list export).

Rows match the subject on the declared identity columns (e-mail compared case-insensitively).
CSV and JSON-lines files are read row by row; a JSON array file is read whole, so it is
capped by `max_bytes` (use JSON lines for big files).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from dsr.connectors import contacts, declaration, files_actions
from dsr.connectors.base import (
    Action,
    CollectionRules,
    Connector,
    ConnectorError,
    DeclarationError,
    Identity,
    PermanentConnectorError,
    Plan,
    Processing,
    Proof,
    Record,
    SubjectRef,
)
from dsr.connectors.registry import kind

FORMATS = ("csv", "jsonl", "json")


@kind("files")
class FilesConnector(Connector):
    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        declaration.need_str(settings, "path")
        fmt = settings.get("format", "csv")
        if fmt not in FORMATS:
            raise DeclarationError("format", f"must be one of {list(FORMATS)}")
        declaration.need_identifier(settings, "collection", default="rows", pattern=declaration.COLLECTION)
        identity = declaration.need_table(settings, "identity", optional=False)
        if not identity.get("email") or not isinstance(identity.get("email"), str):
            raise DeclarationError("identity.email", "name the column holding the e-mail address")
        for name, column in identity.items():
            if name not in ("email", "phone") or not isinstance(column, str):
                raise DeclarationError(f"identity.{name}", "only email and phone columns (names) identify a subject")
        declaration.collection_rules(settings)  # record_key, portable, the fields' origins
        declaration.read_default_origin(settings)
        delimiter = settings.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise DeclarationError("delimiter", "must be one character")
        declaration.need_number(settings, "max_bytes", 50_000_000)
        declaration.validate_translated_facts(settings)
        declaration.read_processing(settings)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = Path(declaration.expand_path(self.settings["path"], self.context.instance_path))
        self.format = self.settings.get("format", "csv")
        self.collection = self.settings.get("collection", "rows")
        self.identity = self.settings["identity"]
        self.fields = declaration.read_origins(self.settings.get("fields"), "fields")
        self.default_origin = declaration.read_default_origin(self.settings)
        self.region = self.settings.get("phone_region", "NO")
        self._processing = [processing for processing, _ in declaration.read_processing(self.settings)]

    def rows(self) -> Iterator[dict[str, Any]]:
        return self._rows()

    def email_of(self, row: dict[str, Any]) -> str | None:
        return contacts.normalise_email(row.get(self.identity["email"]))

    def _rows(self) -> Iterator[dict[str, Any]]:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 (closed by the with below)
        except FileNotFoundError:
            raise ConnectorError(f"the file of system {self.key} is missing") from None
        except OSError as exc:
            raise ConnectorError(f"the file of system {self.key} cannot be read ({type(exc).__name__})") from None
        with handle:
            if self.format == "csv":
                text = io.TextIOWrapper(handle, encoding=self.settings.get("encoding", "utf-8-sig"), newline="")
                try:
                    yield from csv.DictReader(text, delimiter=self.settings.get("delimiter", ","))
                except (csv.Error, UnicodeDecodeError):
                    raise PermanentConnectorError(f"the file of system {self.key} is not valid CSV") from None
            elif self.format == "jsonl":
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield self.parse_line(line, number)
            else:
                if self.path.stat().st_size > self.settings.get("max_bytes", 50_000_000):
                    raise PermanentConnectorError(f"the file of system {self.key} is over its max_bytes")
                data = self._object(handle.read(), 0, array=True)
                yield from data

    def parse_line(self, line: bytes, number: int) -> dict[str, Any]:
        """One line of a JSON-lines file (`number` counts from 1, for the error message)."""
        return self._object(line, number)

    def _object(self, raw: bytes, number: int, array: bool = False):
        try:
            value = json.loads(raw)
        except ValueError:
            raise PermanentConnectorError(f"the file of system {self.key} is not valid JSON"
                                          + (f" (line {number})" if number else "")) from None
        items = value if array else [value]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise PermanentConnectorError(f"the file of system {self.key} must hold JSON objects")
        return items if array else items[0]

    def _matches(self, row: dict[str, Any], email: str | None, phone: str | None) -> bool:
        if email and contacts.normalise_email(row.get(self.identity["email"])) == email:
            return True
        column = self.identity.get("phone")
        return bool(phone and column and contacts.normalise_phone(row.get(column), self.region) == phone)

    def locate(self, identity: Identity) -> SubjectRef:
        ref = SubjectRef(system_key=self.key)
        email = contacts.normalise_email(identity.email)
        phone = contacts.normalise_phone(identity.phone, self.region) if identity.phone else None
        rows = ref.keys.setdefault(f"{self.collection}.row", [])
        for number, row in enumerate(self._rows(), start=1):
            if self._matches(row, email, phone):
                rows.append(number)
                contacts.add_unique(ref.emails, contacts.normalise_email(row.get(self.identity["email"])))
                if self.identity.get("phone"):
                    contacts.add_unique(ref.phones, contacts.normalise_phone(row.get(self.identity["phone"]), self.region))
        return ref

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        # Rows are matched again by the addresses found (row numbers shift when the file is re-exported).
        if not ref.found:
            return
        emails = set(ref.emails)
        column = self.identity["email"]
        for row in self._rows():
            if contacts.normalise_email(row.get(column)) in emails:
                yield Record(self.collection, dict(row), {k: self.fields.get(k, self.default_origin) for k in row})

    def collections(self) -> list[str]:
        return [self.collection]

    def collection_rules(self) -> dict[str, CollectionRules]:
        return {self.collection: declaration.collection_rules(self.settings)}

    # ------------------------------------------------------------------ actions (dsr.connectors.files_actions)

    def actions(self) -> frozenset[Action]:
        return frozenset({Action.ERASE, Action.STOP} if self._processing else {Action.ERASE})

    def processing(self) -> list[Processing]:
        return list(self._processing)

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any], today: date) -> Plan:
        if action is Action.ERASE:
            return files_actions.plan_removal(self, list(ref.emails), action, [])
        if action is Action.STOP:
            known = {p.key for p in self._processing}
            chosen = [key for key in details.get("processing", ()) if key in known]
            emails = list(ref.emails) if chosen else []
            return files_actions.plan_removal(self, emails, action, chosen)
        return super().plan(ref, action, details, today)

    def apply(self, ref: SubjectRef, plan: Plan) -> int:
        return files_actions.remove_lines(self, plan)

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        return files_actions.prove_removal(self, plan)
