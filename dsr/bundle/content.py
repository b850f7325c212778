"""What goes into a bundle: the readable pages, the Art. 15(1) facts, the data files, the history.

Everything here is a pure function of the case, its finished tasks and the declarations, in
a fixed order, so the same data always gives the same files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from markupsafe import Markup, escape

from dsr.bundle import spool
from dsr.bundle.signing import installation_fingerprint
from dsr.controller import Controller
from dsr.storage import Store

PREVIEW_ROWS = 50
_FACT_NAMES = ("purposes", "legal_basis", "categories", "recipients", "third_country_transfers", "retention",
               "source", "automated_decisions")


@dataclass
class CollectionPart:
    name: str
    records: int
    fields: list[str]
    summary: dict[str, Any]
    preview: list[dict[str, Any]] = field(default_factory=list)

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

    @property
    def page(self) -> str:
        return f"systems/{self.key}.html"


def facts_for(system, language: str) -> dict[str, Any]:
    """The declared facts, in Norwegian when the case is and the declaration has them."""
    base = {name: getattr(system.connector.facts, name) for name in _FACT_NAMES}
    base = {k: list(v) if isinstance(v, tuple) else v for k, v in base.items()}
    if language == "nb":
        base.update(system.connector.settings.get("facts_nb") or {})
    return base


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


def members(*, kind: str, language: str, reference: str, controller: Controller, systems: list[SystemPart],
            history: list[dict[str, Any]], rights: dict[str, str], store: Store, master: spool.Keys,
            partial: bool):
    """Yield (path, chunks, expected_size) in bundle order; the spools and uploads are read from `store`
    with `master` (the keys they may be sealed with)."""
    common = {"kind": kind, "reference": reference, "controller": controller_facts(controller),
              "systems": systems, "partial": partial, "rights": rights, "cell": cell,
              "key_fingerprint": installation_fingerprint(current_app.config.get("SIGNING_KEY"))}
    for system in systems:
        for collection in system.collections:
            collection.preview = spool.first_rows(store, system.spool_dir, collection.name, master,
                                                 PREVIEW_ROWS)
    yield "index.html", _render("index.html", language, history=history, **common), 0
    if kind == "access":
        about = {"controller": common["controller"], "reference": reference, "language": language,
                 "partial": partial, "rights": rights,
                 "systems": [{"key": s.key, "name": s.name, "status": s.status, "records": s.records,
                              "collections": {c.name: c.records for c in s.collections}, "facts": s.facts}
                             for s in systems]}
        yield "about-this-data.html", _render("about.html", language, **common), 0
        yield "about-this-data.json", (json.dumps(about, indent=2, ensure_ascii=False) + "\n").encode(), 0
        yield "request-history.json", (json.dumps(history, indent=2, ensure_ascii=False,
                                                  default=spool.json_default) + "\n").encode(), 0
    for system in systems:
        yield system.page, _render("system.html", language, system=system, **common), 0
    for system in systems:
        for collection in system.collections:
            size = collection.summary.get("json_bytes", 0)
            yield (f"data/{system.key}/{collection.json_path}",
                   spool.json_document(store, system.spool_dir, collection.name, master), size)
            yield (f"data/{system.key}/{collection.csv_path}",
                   spool.csv_document(store, system.spool_dir, collection.name, collection.summary, master),
                   collection.summary.get("csv_bytes", 0))
        if system.upload:
            yield (f"data/{system.key}/{system.upload['filename']}",
                   spool.read_upload(store, system.upload["key"], master), system.upload["size"])
