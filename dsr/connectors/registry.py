"""Builds connectors from systems.toml and finds a subject across all of them.

Declarations are validated at start-up (no connection is opened); an error names the
file, the line and the key, e.g. `systems.toml, line 31, key 'systems[1].facts.retention'`.
"""
from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from dsr.connectors import templates
from dsr.connectors.base import (
    Connector,
    ConnectorContext,
    ConnectorError,
    DeclarationError,
    Facts,
    Identity,
    SubjectRef,
)
from dsr.controller import SystemsFile, SystemsFileError

log = logging.getLogger(__name__)

# Modules that define built-in kinds (each registers itself with @kind on import).
KIND_MODULES: tuple[str, ...] = ("dsr.connectors.sql", "dsr.connectors.http", "dsr.connectors.files",
                                 "dsr.connectors.manual", "dsr.connectors.ga4")

_KINDS: dict[str, type[Connector]] = {}
_SYSTEM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_loaded = False


def kind(name: str):
    def register(cls: type[Connector]) -> type[Connector]:
        cls.kind = name
        _KINDS[name] = cls
        return cls

    return register


def known_kinds(extra_modules: tuple[str, ...] = ()) -> dict[str, type[Connector]]:
    """The built-in kinds plus those of `extra_modules` (CONNECTOR_MODULES: plugins, test kinds)."""
    global _loaded
    if not _loaded:
        for module in KIND_MODULES:
            importlib.import_module(module)
        _loaded = True
    for module in extra_modules:
        importlib.import_module(module)
    return dict(_KINDS)


@dataclass(frozen=True)
class Recipient:
    """Art. 19: someone this system's data is disclosed to, told of a rectification, erasure or
    restriction: by e-mail to `email`, or by a person on our side when no address is declared."""

    name: str
    email: str | None
    name_nb: str | None = None  # the name a Norwegian letter gives them

    def name_in(self, language: str) -> str:
        return self.name_nb if language == "nb" and self.name_nb else self.name


@dataclass(frozen=True)
class System:
    """A declared system: its connector plus what the portal shows about it."""

    key: str
    name: str
    connector: Connector
    recipients: tuple[Recipient, ...] = ()
    template: str | None = None  # the ready-made declaration it uses (dsr.connectors.templates)
    canary: Identity | None = None  # a test identity located (and exported) every night


#: settings every kind shares, read here rather than by the kind
COMMON = {"key", "name", "kind", "facts", "notify", "template", "canary"}


def build_systems(systems_file: SystemsFile, context: ConnectorContext,
                  extra_modules: tuple[str, ...] = ()) -> dict[str, System]:
    kinds = known_kinds(extra_modules)
    systems: dict[str, System] = {}
    for index, raw in enumerate(systems_file.systems):
        template = None

        def fail(key: str, problem: str, _index: int = index, _raw: dict = raw) -> SystemsFileError:
            parts = tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", key) if p)
            dotted = ".".join(map(str, parts))
            if template is not None and templates.lookup(_raw, dotted) is None \
                    and templates.lookup(template.settings, dotted) is not None:
                # The setting came from the template: point at the template's file and line.
                return SystemsFileError(template.path, line_of(template.text, parts),
                                        f"systems[{_index}].{key} (from template {template.key})", problem)
            path = ("systems", _index, *parts)
            line = line_of(systems_file.text, path) or systems_file.line_of(*path)
            return SystemsFileError(systems_file.path, line, f"systems[{_index}].{key}", problem)

        try:
            entry, template = templates.expand(raw)
        except templates.TemplateError as exc:
            raise fail(exc.key, exc.problem) from exc
        key = entry.get("key")
        if not isinstance(key, str) or not _SYSTEM_KEY.match(key):
            raise fail("key", "must be a lower-case identifier (letters, digits, _), at most 40 characters")
        if key in systems:
            raise fail("key", f"{key!r} is declared twice")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail("name", "is required (the name staff and subjects see)")
        kind_name = entry.get("kind")
        if kind_name not in kinds:
            raise fail("kind", f"must be one of {sorted(kinds) or '(no kinds installed)'}, not {kind_name!r}")
        facts = _read_facts(entry.get("facts"), fail)
        recipients = _read_recipients(entry.get("notify", []), fail)
        canary = _read_canary(entry.get("canary"), fail)
        settings = {k: v for k, v in entry.items() if k not in COMMON}
        connector_class = kinds[kind_name]
        try:
            connector_class.validate(settings)
        except DeclarationError as exc:
            raise fail(exc.key, exc.problem) from exc
        systems[key] = System(key=key, name=name.strip(), recipients=recipients, canary=canary,
                              template=template.key if template else None,
                              connector=connector_class(key, name.strip(), facts, settings, context))
    return systems


_HEADER_LINE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-\" ]+?)\s*=")


def line_of(text: str, path: tuple) -> int | None:
    """The line of the deepest table or key on `path` (e.g. ("systems", 0, "tables", 2, "links", 0, "to")),
    following nested arrays of tables ([[systems.tables]] counted per [[systems]]) and dotted keys."""
    counts: dict[tuple, int] = {}
    arrays: set[tuple] = set()
    best_line, best_depth = None, -1
    header: tuple = ()

    def resolve(names: list[str]) -> tuple:
        resolved: tuple = ()
        for name in names:
            resolved += (name,)
            if resolved in arrays:
                resolved += (counts[resolved] - 1,)
        return resolved

    def consider(found: tuple, number: int) -> None:
        nonlocal best_line, best_depth
        if tuple(path[:len(found)]) == found and len(found) > best_depth:
            best_line, best_depth = number, len(found)

    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER_LINE.match(line)
        if match:
            names = [part.strip().strip('"') for part in match.group(2).split(".")]
            if match.group(1) == "[[":
                key = resolve(names[:-1]) + (names[-1],)
                arrays.add(key)
                counts[key] = counts.get(key, 0) + 1
                header = key + (counts[key] - 1,)
            else:
                header = resolve(names)
            consider(header, number)
            continue
        match = _KEY_LINE.match(line)
        if match and not line.lstrip().startswith("#"):
            consider(header + tuple(part.strip().strip('"') for part in match.group(1).split(".")), number)
    return best_line


def _read_recipients(entries: Any, fail) -> tuple[Recipient, ...]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise fail("notify", "must be [[systems.notify]] tables with a name and an optional email")
    recipients = []
    for index, entry in enumerate(entries):
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"notify[{index}].name", "is required (who the recipient is)")
        email = entry.get("email")
        if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 254):
            raise fail(f"notify[{index}].email", "must be an e-mail address (or leave it out: staff tell them)")
        name_nb = entry.get("name_nb")
        if name_nb is not None and (not isinstance(name_nb, str) or not name_nb.strip()):
            raise fail(f"notify[{index}].name_nb", "must be the recipient's name in Norwegian (or leave it out)")
        unknown = set(entry) - {"name", "name_nb", "email"}
        if unknown:
            raise fail(f"notify[{index}].{min(unknown)}", "is not a setting of a recipient (name, name_nb, email)")
        recipients.append(Recipient(name=name.strip(), email=email.strip().lower() if email else None,
                                    name_nb=name_nb.strip() if name_nb else None))
    return tuple(recipients)


def _read_canary(table: Any, fail) -> Identity | None:
    """`canary = { email = "...", identifiers = { ga_client_id = "..." } }`: a test identity of our own that the
    system holds, located and exported every night (dsr.canary) and by `flask dsr systems check`."""
    if table is None:
        return None
    if not isinstance(table, dict) or set(table) - {"email", "identifiers"}:
        raise fail("canary", "must be a table { email = \"...\", identifiers = { ... } }")
    email = table.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise fail("canary.email", "must be the e-mail address of a test identity the system holds")
    identifiers = table.get("identifiers", {})
    if not isinstance(identifiers, dict) or not all(isinstance(v, str) and v for v in identifiers.values()):
        raise fail("canary.identifiers", "must be a table of name = \"value\" (e.g. ga_client_id)")
    return Identity(email=email.strip().lower(), identifiers=dict(identifiers))


def _read_facts(table: Any, fail) -> Facts:
    if not isinstance(table, dict):
        raise fail("facts", "a [systems.facts] table with the Art. 15(1) facts is required")
    values: dict[str, Any] = {}
    for name in Facts.REQUIRED + ("third_country_transfers", "automated_decisions"):
        value = table.get(name)
        if value is None:
            if name in Facts.REQUIRED:
                raise fail(f"facts.{name}", "is required")
            continue
        if name in ("purposes", "categories", "recipients"):
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise fail(f"facts.{name}", "must be a non-empty list of strings")
            values[name] = tuple(v.strip() for v in value)
        else:
            if not isinstance(value, str) or not value.strip():
                raise fail(f"facts.{name}", "must be a non-empty string")
            values[name] = value.strip()
    return Facts(**values)


def connector_context(app: Flask) -> ConnectorContext:
    return ConnectorContext(instance_path=Path(app.instance_path), storage_dir=Path(app.config["STORAGE_DIR"]),
                            environ=dict(os.environ))


def init_app(app: Flask) -> None:
    """Validate every declaration at start-up; connectors connect only when used."""
    extra = tuple((app.config.get("CONNECTOR_MODULES") or "").split())
    app.extensions["dsr.systems"] = build_systems(app.extensions["dsr.systems_file"], connector_context(app), extra)


def get_systems(app: Flask | None = None) -> dict[str, System]:
    return (app or current_app).extensions["dsr.systems"]


def subject_identity(email: str | None, details: Mapping[str, Any] | None, app: Flask | None = None, *,
                     phone: str | None = None) -> Identity:
    """The identity the systems are asked with: the verified e-mail, the phone when staff vouched for it,
    and the identifiers a system asked the request form for (only those; nothing else the subject typed)."""
    asked = {name for system in get_systems(app).values() for name in system.connector.identifiers_asked()}
    given = {name: str(value) for name, value in (details or {}).items() if name in asked and value}
    return Identity(email=email, phone=phone, identifiers=given)


@dataclass
class Lookup:
    refs: dict[str, SubjectRef]
    errors: dict[str, str]  # system key -> message safe to show staff

    @property
    def phones_on_file(self) -> list[str]:
        seen: list[str] = []
        for ref in self.refs.values():
            seen.extend(p for p in ref.phones if p not in seen)
        return seen


def locate_everywhere(identity: Identity, app: Flask | None = None) -> Lookup:
    """Ask every system for the subject; one failing system does not hide the others' answers."""
    refs: dict[str, SubjectRef] = {}
    errors: dict[str, str] = {}
    for key, system in get_systems(app).items():
        try:
            refs[key] = system.connector.locate(identity)
        except ConnectorError as exc:
            errors[key] = str(exc)[:300]
            log.warning("locate failed on %s: %s", key, type(exc).__name__)
        finally:
            system.connector.close()
    return Lookup(refs=refs, errors=errors)
