"""What the bundle being assembled says about its answer, and what it holds of each collection once staff's
choices are applied: the records and fields they redacted (Art. 15(4), dsr.export.redaction) are left
out, and a delta answer holds only the records new or changed since the earlier answer
(dsr.export.delta). A collection either applies to is rewritten once into the bundle's own spool
(dsr.bundle.rewrite); the others are copied as collected."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import orm

from dsr.bundle.content import AnswerNotes, CollectionPart, SystemPart
from dsr.bundle.rewrite import rewrite_collection
from dsr.connectors.registry import get_systems
from dsr.deadlines.rules import local_date
from dsr.export import storage
from dsr.export.bundle_parts import system_name
from dsr.export.delta import Comparison, answer_of, digest_keys, earlier_digests
from dsr.export.parts import given_bundles
from dsr.export.redaction import RowFilter, redactions_of
from dsr.models import BundleRedaction, ExportBundle, SubjectRequest


def answer_notes(session: orm.Session, request: SubjectRequest, bundle: ExportBundle, systems: list[SystemPart],
                 language: str, app: Flask) -> AnswerNotes:
    """The part this bundle is, the parts before it, and the systems still owed when it is partial."""
    declared = get_systems(app)
    timezone = app.extensions["dsr.controller"].timezone
    earlier = [{"released_on": local_date(given.released_at, timezone),
                "systems": [system_name(declared[key], language) for key in (given.systems or ()) if key in declared]}
               for given in given_bundles(session, request.id) if given.released_at is not None]
    owed = [part.name for part in systems if part.status == "not_collected"]
    return AnswerNotes(part=bundle.part, earlier=earlier, still_owed=owed if bundle.partial else [],
                       rest_due_on=request.deadline_on if bundle.partial and owed else None)


def shape_parts(session: orm.Session, request: SubjectRequest, bundle: ExportBundle, systems: list[SystemPart],
                notes: AnswerNotes, app: Flask) -> None:
    """Apply the case's redactions and, for a delta bundle, the comparison to the parts (in place)."""
    rules = redactions_of(session, request.id)
    answer = answer_of(session, request.id) if bundle.changes_since_request_id else None
    if answer is not None and (answer.request.id != bundle.changes_since_request_id or not answer.comparable):
        raise ValueError("the earlier answer this delta bundle was chosen against can no longer be compared")
    if not rules and answer is None:
        return
    target = storage.shaped_spool(request.id, bundle.id)
    storage.get_store(app).delete_prefix(target)  # an earlier assembly's
    earlier = earlier_digests(session, answer) if answer is not None else {}
    key = digest_keys(app)[answer.key_id] if answer is not None else b""
    for system in systems:
        mine = [rule for rule in rules if rule.system_key == system.key]
        if system.upload is not None and any(rule.collection is None for rule in mine):
            notes.redactions.extend(_summary(rule, system, None, 0) for rule in mine if rule.collection is None)
            system.upload = None
        for collection in list(system.collections):
            chosen = [rule for rule in mine if rule.collection == collection.name]
            compare = Comparison(key, collection.summary.get("key"), earlier.get((system.key, collection.name), {})) \
                if answer is not None else None
            if chosen or compare is not None:
                _rewrite(system, collection, RowFilter(chosen, collection.summary.get("key")), compare,
                         f"{target}/{system.key}", notes, app)
        if answer is not None:
            _removed_collections(system, earlier)
        system.records = sum(c.records for c in system.collections) + (1 if system.upload else 0)
    if answer is not None:
        notes.changes_since = answer.released_on


def _rewrite(system: SystemPart, collection: CollectionPart, rows: RowFilter, compare: Comparison | None,
             target: str, notes: AnswerNotes, app: Flask) -> None:
    def keep(record, number, line) -> bool:
        if compare is not None and not compare.keep(record, line):
            return False
        return rows.keep(record, number)

    result = rewrite_collection(storage.get_store(app), system.spool_dir, target, collection.name,
                                storage.opening_keys(app), storage.sealing_key(app), keep=keep,
                                drop_fields=rows.fields)
    notes.redactions.extend(_summary(rule, system, collection.name, rows.removed.get(rule.id, 0),
                                     [f for f in rule.fields or () if f in result.fields_removed])
                            for rule in rows.rules)
    if compare is not None:
        system.changes[collection.name] = compare.counts()
    if result.summary["records"]:
        collection.records, collection.fields = result.summary["records"], result.summary["fields"]
        collection.summary = {**result.summary, "key": collection.summary.get("key")}
        collection.spool_dir = target
    else:
        system.collections.remove(collection)  # nothing of it is left to show


def _summary(rule: BundleRedaction, system: SystemPart, collection: str | None, removed: int,
             fields: list[str] | None = None) -> dict:
    """What the bundle says of a redaction: where, which fields, how many records, why (never the content)."""
    return {"system": system.key, "system_name": system.name, "collection": collection,
            "file": system.upload.get("filename") if collection is None and system.upload else None,
            "fields": fields if fields is not None else list(rule.fields or ()), "records": removed,
            "reason": rule.reason}


def _removed_collections(system: SystemPart, earlier: dict[tuple[str, str], dict[str, str]]) -> None:
    """Collections the earlier answer held and this one holds nothing of: every record removed."""
    for (system_key, name), digests in earlier.items():
        if system_key == system.key and name not in system.changes:
            system.changes[name] = {"new": 0, "changed": 0, "removed": len(digests)}
