"""A subject answered by post (no e-mail) gets their bundle on a medium staff hand over: a USB stick, a
printed copy or a disc, collected in person or sent by post. Staff download the bundle for review, put
it on the medium, and record what, to whom and when; that releases it (the case completes) and a letter
to print and post says so. No download link exists for such a bundle (dsr.export.delivery)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.export.parts import open_bundle
from dsr.export.release import ReleaseRefused, release_bundle
from dsr.export.review import system_outcomes
from dsr.models import BundleStatus, ExportBundle, Handover, HandoverMedium, SubjectRequest
from dsr.notify.letters import send_subject_letter
from dsr.validation import InvalidValue, single_line

HANDED_OVER_LETTER = "data_handed_over"


@dataclass(frozen=True)
class HandoverRecord:
    medium: HandoverMedium
    handover: Handover
    handed_to: str  # the person who collected it, or to whom it was posted
    handed_over_on: date


def release_on_medium(session: orm.Session, request_id: int, staff_id: int, handed: HandoverRecord, *,
                      today: date) -> ExportBundle:
    """Record the hand-over of the reviewed bundle: released, the case completed, the letter queued for
    printing. Raises ReleaseRefused (with why) and changes nothing when it cannot be recorded."""
    request = session.get(SubjectRequest, request_id)
    if not request.answered_by_post:
        raise ReleaseRefused(_("this subject is answered by e-mail: release the bundle to them instead"))
    bundle = open_bundle(session, request_id)  # the part under review (an answer may come in parts)
    if bundle is None or bundle.status is not BundleStatus.READY_FOR_REVIEW:
        raise ReleaseRefused(_("this case has no bundle ready for review"))
    try:
        handed_to = single_line(handed.handed_to, max_length=200, required_message=_("say to whom it was handed over"))
    except InvalidValue as exc:
        raise ReleaseRefused(exc.message) from None
    if handed.handed_over_on > today:
        raise ReleaseRefused(_("the day of the hand-over cannot be in the future"))
    release_bundle(session, bundle.id, staff_id)
    bundle.medium, bundle.handover = handed.medium, handed.handover
    bundle.handed_to, bundle.handed_over_on = handed_to, handed.handed_over_on
    record(session, "bundle.handed_over", actor_type="staff", actor_id=staff_id, request_id=request_id,
           bundle_id=bundle.id, medium=handed.medium.value, handover=handed.handover.value,
           handed_over_on=handed.handed_over_on.isoformat())
    send_subject_letter(
        session, request, HANDED_OVER_LETTER, author_id=staff_id, dedupe_key=f"handed-over:{bundle.id}",
        kind=bundle.kind.value, partial=bundle.partial, medium=handed.medium.value,
        handover=handed.handover.value, handed_to=handed_to, handed_over_on=handed.handed_over_on,
        systems=system_outcomes(session, request, bundle),
    )
    session.flush()
    return bundle
