"""Art. 15(4): other people's data left out of a bundle (chat messages written by staff, names of third
parties in notes), with a reason.

Staff choose, per system and collection, fields to remove from every record and records to remove (by
the collection's key field, or by row number where it has none); a manual system's uploaded file can be
withheld whole. Each choice is a rule kept with the case (BundleRedaction) and applied when the bundle is
assembled (dsr.export.shaping): the collected spools stay as they were, so a rule taken back costs only
a new assembly. The bundle lists what was left out and why (collection, field names, number of records,
reason), never the content. This module reads and checks; dsr.export.review_actions changes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.bundle import spool
from dsr.connectors.registry import get_systems
from dsr.export import storage
from dsr.export.parts import owed_tasks
from dsr.models import BundleRedaction, SubjectRequest, SystemTask, TaskState
from dsr.validation import FieldRefused

MAX_ROWS = 1000  # records named in one rule
UPLOAD_SLUG = "_upload"
MAX_REASON = 2000
_SEPARATORS = re.compile(r"[,;\s]+")


class RedactionRefused(FieldRefused):
    """The redaction cannot be made as asked (the message says why, for the form field `field`)."""


@dataclass(frozen=True)
class RedactionTarget:
    """A collection (or a manual system's uploaded file, collection None) of the bundle under review."""

    task: SystemTask
    system_name: str
    collection: str | None
    fields: tuple[str, ...] = ()
    key_field: str | None = None
    records: int = 0
    filename: str | None = None

    @property
    def system_key(self) -> str:
        return self.task.system_key

    @property
    def spool_dir(self) -> str:
        return f"{storage.request_spool(self.task.request_id)}/{self.task.result['spool']}"

    @property
    def slug(self) -> str:
        """How a URL names it ("_upload" for the uploaded file: no collection name starts with "_")."""
        return self.collection or UPLOAD_SLUG


def targets(session: orm.Session, request: SubjectRequest) -> list[RedactionTarget]:
    """What of the bundle under review can be redacted: each collection with records, each uploaded file."""
    systems = get_systems(current_app)
    found = []
    for task in owed_tasks(session, request.id):
        system = systems.get(task.system_key)
        if system is None or task.state is not TaskState.DONE:
            continue
        result = task.result or {}
        for name, info in (result.get("collections") or {}).items():
            if info.get("records"):
                found.append(RedactionTarget(task=task, system_name=system.name, collection=name,
                                             fields=tuple(info.get("fields") or ()), key_field=info.get("key"),
                                             records=int(info["records"])))
        if result.get("upload"):
            found.append(RedactionTarget(task=task, system_name=system.name, collection=None,
                                         filename=result["upload"].get("filename")))
    return found


def find_target(session: orm.Session, request: SubjectRequest, system_key: str, slug: str) -> RedactionTarget | None:
    for target in targets(session, request):
        if target.system_key == system_key and target.slug == slug:
            return target
    return None


def redactions_of(session: orm.Session, request_id: int) -> list[BundleRedaction]:
    return list(session.scalars(sa.select(BundleRedaction).where(BundleRedaction.request_id == request_id)
                                .order_by(BundleRedaction.id)))


def checked_rule(target: RedactionTarget, fields: list[str], rows_text: str, reason: str) -> tuple[list[str], list[str]]:
    """The fields and rows of a new rule on `target`, checked: (fields, rows). Raises RedactionRefused."""
    reason = (reason or "").strip()
    if not reason:
        raise RedactionRefused("reason", _("Give the reason: whose rights and freedoms the removal protects "
                                           "(Art. 15(4)), e.g. the names of other customers in a note."))
    if len(reason) > MAX_REASON:
        raise RedactionRefused("reason", _("Keep the reason under %(count)d characters.", count=MAX_REASON))
    if target.collection is None:
        return [], []
    unknown = [name for name in fields if name not in target.fields]
    if unknown:
        raise RedactionRefused("fields", _("%(name)s is not a field of %(collection)s.", name=unknown[0],
                                           collection=target.collection))
    rows = _parse_rows(target, rows_text)
    if not fields and not rows:
        raise RedactionRefused("rows", _("Choose the fields to remove, or name the records to remove, or both."))
    if set(fields) == set(target.fields):
        raise RedactionRefused("fields", _("Removing every field leaves nothing of these records: name the "
                                           "records to remove instead."))
    missing = _missing_rows(target, rows)
    if missing:
        raise RedactionRefused("rows", _("No record of %(collection)s has %(key)s %(value)s.",
                                         collection=target.collection, key=target.key_field or _("row number"),
                                         value=missing[0]))
    return fields, rows


def _parse_rows(target: RedactionTarget, text: str) -> list[str]:
    rows = list(dict.fromkeys(part for part in _SEPARATORS.split(text or "") if part))
    if len(rows) > MAX_ROWS:
        raise RedactionRefused("rows", _("Name at most %(count)d records in one redaction.", count=MAX_ROWS))
    if target.key_field is None:
        for row in rows:
            if not row.isdigit() or not 1 <= int(row) <= target.records:
                raise RedactionRefused("rows", _("%(collection)s has no key field: name records by their row "
                                                 "number, 1 to %(count)d.", collection=target.collection,
                                                 count=target.records))
        rows = [str(int(row)) for row in rows]
    return rows


def _missing_rows(target: RedactionTarget, rows: list[str]) -> list[str]:
    """The named keys no record has (row numbers were checked against the count)."""
    if not rows or target.key_field is None:
        return []
    wanted = set(rows)
    store, keys = storage.get_store(), storage.opening_keys()
    for line in spool.json_lines(store, target.spool_dir, target.collection, keys):
        wanted.discard(key_text(json.loads(line).get(target.key_field)))
        if not wanted:
            return []
    return [row for row in rows if row in wanted]


def key_text(value: Any) -> str:
    """A key field's value as staff type it."""
    return "" if value is None else str(value)


@dataclass
class RowFilter:
    """The rules of one collection applied record by record (counts what each rule removed)."""

    rules: list[BundleRedaction]
    key_field: str | None
    removed: dict[int, int] = field(default_factory=dict)  # rule id -> records removed

    def __post_init__(self):
        self._rows = [(rule.id, set(rule.rows or ())) for rule in self.rules if rule.rows]

    @property
    def fields(self) -> set[str]:
        return {name for rule in self.rules for name in (rule.fields or ())}

    def keep(self, record: dict[str, Any], number: int) -> bool:
        if not self._rows:
            return True
        identity = str(number) if self.key_field is None else key_text(record.get(self.key_field))
        for rule_id, rows in self._rows:
            if identity in rows:
                self.removed[rule_id] = self.removed.get(rule_id, 0) + 1
                return False
        return True
