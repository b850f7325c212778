"""What staff change in a bundle under review, before it is released. Each change is audited and the
bundle is then assembled again from the kept spools (dsr.export.assembly.reassemble):

- a redaction added or taken back (Art. 15(4): other people's data, dsr.export.redaction);
- a full answer, or for a repeat access request the changes since the last answer (dsr.export.delta).
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.export.assembly import reassemble
from dsr.export.delta import earlier_answer
from dsr.export.parts import open_bundle
from dsr.export.redaction import RedactionRefused, checked_rule, find_target
from dsr.models import BundleKind, BundleRedaction, BundleStatus, ExportBundle, SubjectRequest


class AnswerRefused(ValueError):
    """The choice of a full or delta answer cannot be made (the message says why)."""


def _reviewed_bundle(session: orm.Session, request: SubjectRequest) -> ExportBundle | None:
    bundle = open_bundle(session, request.id)
    return bundle if bundle is not None and bundle.status is BundleStatus.READY_FOR_REVIEW else None


def add_redaction(session: orm.Session, request_id: int, staff_id: int, *, system_key: str, slug: str,
                  fields: list[str], rows_text: str, reason: str) -> BundleRedaction:
    """Leave `fields` of every record and the records named in `rows_text` of one collection (or a manual
    system's uploaded file, slug "_upload") out of the bundle, for `reason`. Raises RedactionRefused."""
    request = session.get(SubjectRequest, request_id)
    if request is None or _reviewed_bundle(session, request) is None:
        raise RedactionRefused("reason", _("Data can be left out only of a bundle that is ready for review."))
    target = find_target(session, request, system_key, slug)
    if target is None:
        raise RedactionRefused("reason", _("The bundle holds no such data."))
    fields, rows = checked_rule(target, fields, rows_text, reason)
    redaction = BundleRedaction(request_id=request.id, system_key=target.system_key, collection=target.collection,
                                fields=fields, rows=rows, reason=reason.strip(), created_by_id=staff_id)
    session.add(redaction)
    session.flush()
    record(session, "bundle.redaction_added", actor_type="staff", actor_id=staff_id, request_id=request.id,
           redaction_id=redaction.id, system=target.system_key, collection=target.slug, fields=len(fields),
           rows=len(rows))
    reassemble(session, request, staff_id, "redaction_added")
    return redaction


def remove_redaction(session: orm.Session, request_id: int, redaction_id: int, staff_id: int) -> None:
    """Take a redaction back before release: the bundle is assembled again with that data in it."""
    request = session.get(SubjectRequest, request_id)
    redaction = session.get(BundleRedaction, redaction_id)
    if request is None or redaction is None or redaction.request_id != request.id:
        raise RedactionRefused("reason", _("There is no such redaction on this case."))
    if _reviewed_bundle(session, request) is None:
        raise RedactionRefused("reason", _("A redaction can be taken back only while the bundle is ready for review."))
    session.delete(redaction)
    record(session, "bundle.redaction_removed", actor_type="staff", actor_id=staff_id, request_id=request.id,
           redaction_id=redaction_id)
    reassemble(session, request, staff_id, "redaction_removed")


def choose_answer(session: orm.Session, request_id: int, staff_id: int, *, delta: bool) -> ExportBundle:
    """A full answer (the default), or the changes since the same subject's last access answer."""
    request = session.get(SubjectRequest, request_id)
    bundle = _reviewed_bundle(session, request) if request is not None else None
    if bundle is None or bundle.kind is not BundleKind.ACCESS:
        raise AnswerRefused(_("Only an access bundle ready for review can be answered in full or with the changes."))
    since = None
    if delta:
        earlier = earlier_answer(session, request)
        if earlier is None:
            raise AnswerRefused(_("The subject has no earlier access answer to compare with."))
        if not earlier.comparable:
            raise AnswerRefused(_("The earlier answer cannot be compared: its records were not kept comparable "
                                  "(an answer from before this feature, or under an encryption key no longer "
                                  "listed). Answer in full."))
        since = earlier.request.id
    if bundle.changes_since_request_id == since:
        raise AnswerRefused(_("The bundle already answers that way."))
    bundle.changes_since_request_id = since
    record(session, "bundle.answer_chosen", actor_type="staff", actor_id=staff_id, request_id=request.id,
           bundle_id=bundle.id, delta=delta, since_request_id=since)
    reassemble(session, request, staff_id, "delta" if delta else "full")
    return bundle
