"""What goes into a bundle: the readable pages, the Art. 15(1) facts, the data files, the history, and
what the answer says about itself (its part, what was redacted and why, the changes a delta holds).

Everything here is a pure function of the case, its finished tasks and the declarations, in
a fixed order, so the same data always gives the same files. The systems come in the order the
subject reads them (EDPB Guidelines 01/2022: an answer tailored to the subject): those holding data
first, then those searched that held nothing, then any that could not be searched.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale, pgettext
from markupsafe import Markup, escape

from dsr.bundle import spool
from dsr.bundle.signing import installation_fingerprint
from dsr.controller import Controller
from dsr.storage import Store

PREVIEW_ROWS = 50
_FACT_NAMES = ("purposes", "legal_basis", "categories", "recipients", "third_country_transfers", "retention",
               "source", "automated_decisions")
#: what dsr.connectors.base.Facts holds for an optional fact the controller left out: an English word that
#: a Norwegian bundle must not show, so it is said in the case's language
_UNDECLARED = "None"


@dataclass
class CollectionPart:
    name: str
    records: int
    fields: list[str]
    summary: dict[str, Any]
    preview: list[dict[str, Any]] = field(default_factory=list)
    #: where its spool files are when they are not the system's (rewritten: redacted, or a delta's)
    spool_dir: str | None = None

    @property
    def preview_rows(self) -> Markup:
        """The preview table's rows, escaped as the template would escape each cell (built here: a template
        loop costs a call per cell, and a bundle has 50 rows per collection)."""
        return Markup("".join(
            "<tr>" + "".join([f"<td>{escape(cell(row.get(name)))}</td>" for name in self.fields]) + "</tr>\n"
            for row in self.preview))

    @property
    def json_path(self) -> str:
        return f"{self.name}.json"

    @property
    def csv_path(self) -> str:
        return f"{self.name}.csv"


@dataclass
class SystemPart:
    key: str
    name: str
    kind: str
    status: str  # collected | nothing_found | not_collected
    facts: dict[str, Any]
    spool_dir: str | None = None  # the key prefix of its spool files in the store
    collections: list[CollectionPart] = field(default_factory=list)
    upload: dict[str, Any] | None = None  # {"filename", "size", "key"} from a manual task
    records: int = 0
    #: a delta bundle: per collection {"new": n, "changed": n, "removed": n} since the earlier answer
    changes: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def page(self) -> str:
        return f"systems/{self.key}.html"


#: the order the subject reads the systems in
STATUS_ORDER = {"collected": 0, "nothing_found": 1, "not_collected": 2}


@dataclass
class AnswerNotes:
    """What the bundle says about the answer it is part of."""

    part: int = 1
    #: the parts released before this one: [{"released_on": date, "systems": [names]}]
    earlier: list[dict[str, Any]] = field(default_factory=list)
    #: a partial bundle: the systems still to come, and the date the rest is due
    still_owed: list[str] = field(default_factory=list)
    rest_due_on: date | None = None
    #: Art. 15(4): [{"system", "system_name", "collection", "fields", "rows", "file", "reason"}], no content
    redactions: list[dict[str, Any]] = field(default_factory=list)
    #: a delta bundle: the date of the answer it follows (its changes are per CollectionPart)
    changes_since: date | None = None


def facts_for(system, language: str) -> dict[str, Any]:
    """The declared facts, in Norwegian when the case is and the declaration has them."""
    base = {name: getattr(system.connector.facts, name) for name in _FACT_NAMES}
    base = {k: list(v) if isinstance(v, tuple) else v for k, v in base.items()}
    if language == "nb":
        base.update(system.connector.settings.get("facts_nb") or {})
    with force_locale(language):
        none = pgettext("bundle", "None")
    return {name: none if value == _UNDECLARED else value for name, value in base.items()}


def controller_facts(controller: Controller) -> dict[str, Any]:
    authority = controller.authority
    return {"name": controller.name, "org_number": controller.org_number, "address": controller.address,
            "contact_email": controller.contact_email, "phone": controller.phone,
            "dpo": {"name": controller.dpo_name, "email": controller.dpo_email},
            "supervisory_authority": {"name": authority.name, "address": authority.address, "url": authority.url,
                                      "email": authority.email}}


def _render(template: str, language: str, **context) -> bytes:
    with force_locale(language):
        return render_template(f"bundle/{template}", language=language, **context).encode()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return spool.dumps(value)
    return str(value)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=spool.json_default) + "\n").encode()


def about_json(reference: str, language: str, controller: dict[str, Any], systems: list[SystemPart],
               rights: dict[str, str], partial: bool) -> dict[str, Any]:
    """about-this-data.json: the facts of the systems holding data, then the names of those searched that held
    nothing, then of those not searched (the order of the page)."""
    def named(status: str) -> list[dict[str, str]]:
        return [{"key": s.key, "name": s.name} for s in systems if s.status == status]

    return {"controller": controller, "reference": reference, "language": language, "partial": partial,
            "rights": rights,
            "systems": [{"key": s.key, "name": s.name, "status": s.status, "records": s.records,
                         "collections": {c.name: c.records for c in s.collections}, "facts": s.facts}
                        for s in systems if s.status == "collected"],
            "systems_without_data": named("nothing_found"), "systems_not_searched": named("not_collected")}


def changes_json(notes: AnswerNotes, systems: list[SystemPart]) -> dict[str, Any]:
    return {"changes_since": notes.changes_since,
            "systems": [{"key": s.key, "name": s.name, "collections": s.changes} for s in systems if s.changes]}


def members(*, kind: str, language: str, reference: str, controller: Controller, systems: list[SystemPart],
            history: list[dict[str, Any]], rights: dict[str, str], store: Store, master: spool.Keys,
            partial: bool, notes: AnswerNotes | None = None):
    """Yield (path, chunks, expected_size) in bundle order; the spools and uploads are read from `store`
    with `master` (the keys they may be sealed with)."""
    notes = notes or AnswerNotes()
    systems = sorted(systems, key=lambda s: STATUS_ORDER[s.status])  # stable: systems.toml order within
    named = controller.in_language(language)
    common = {"kind": kind, "reference": reference, "controller": controller_facts(named),
              "systems": systems, "partial": partial, "rights": rights, "cell": cell, "notes": notes,
              "key_fingerprint": installation_fingerprint(current_app.config.get("SIGNING_KEY"))}
    for system in systems:
        for collection in system.collections:
            collection.preview = spool.first_rows(store, collection.spool_dir or system.spool_dir,
                                                 collection.name, master, PREVIEW_ROWS)
    yield "index.html", _render("index.html", language, history=history, **common), 0
    if kind == "access":
        about = about_json(reference, language, common["controller"], systems, rights, partial)
        yield "about-this-data.html", _render("about.html", language, **common), 0
        yield "about-this-data.json", _json(about), 0
        yield "request-history.json", _json(history), 0
    if notes.changes_since is not None:
        yield "changes.html", _render("changes.html", language, **common), 0
        yield "changes.json", _json(changes_json(notes, systems)), 0
    if notes.redactions:
        yield "redactions.json", _json(notes.redactions), 0
    for system in systems:
        yield system.page, _render("system.html", language, system=system, **common), 0
    for system in systems:
        for collection in system.collections:
            size = collection.summary.get("json_bytes", 0)
            source = collection.spool_dir or system.spool_dir
            yield (f"data/{system.key}/{collection.json_path}",
                   spool.json_document(store, source, collection.name, master), size)
            yield (f"data/{system.key}/{collection.csv_path}",
                   spool.csv_document(store, source, collection.name, collection.summary, master),
                   collection.summary.get("csv_bytes", 0))
        if system.upload:
            yield (f"data/{system.key}/{system.upload['filename']}",
                   spool.read_upload(store, system.upload["key"], master), system.upload["size"])
