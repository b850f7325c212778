"""Art. 20(2): a portability bundle sent straight to the controller the subject named on the form.

Staff enter or confirm the receiver's name and e-mail address (the form's `receiving_service` names the
receiver; the address is staff's to establish). Sending releases the bundle if it still waits for review.
The receiver gets a letter with a link to its own page; the link alone gives nothing: the receiver
proves the address with a one-time code sent there (dsr.identity.codes, purpose RECEIVER, bound to the
browser that asked) before each download, which is counted and audited and works until the bundle
expires. The subject is told by letter that it was sent, to whom and to which address, and can still
download it too. Audit entries name ids only, never the receiver's address.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.db import utcnow
from dsr.export import storage
from dsr.export.assembly import BUNDLE_PURPOSE
from dsr.export.delivery import Download, download_filename
from dsr.export.parts import given_bundles, open_bundle
from dsr.export.release import release_bundle
from dsr.export.review import receiving_service
from dsr.links import external_url
from dsr.models import (
    BundleKind,
    BundleStatus,
    BundleTransmission,
    ExportBundle,
    MessageDirection,
    Right,
    SubjectRequest,
)
from dsr.notify.letters import send_subject_letter
from dsr.validation import FieldRefused, InvalidValue, normalise_email, single_line

INVITATION_LETTER, SENT_LETTER = "receiver_invitation", "data_sent"
#: transmission tokens are secrets.token_urlsafe(16): anything else is not found before any query
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,43}$")


class TransmissionRefused(FieldRefused):
    """The bundle cannot be sent as asked (the message says why, for the form field `field`)."""


class TransmissionUnavailable(ValueError):
    """The receiver's download cannot be had now: expired, deleted or downloaded the most times allowed."""


def sendable_bundle(session: orm.Session, request: SubjectRequest) -> ExportBundle | None:
    """The portability bundle that can be sent now: the one under review, or the last one released that has
    not expired."""
    bundle = open_bundle(session, request.id)
    if bundle is not None:
        return bundle if bundle.status is BundleStatus.READY_FOR_REVIEW else None
    given = [b for b in given_bundles(session, request.id)
             if b.status is BundleStatus.RELEASED and b.expires_at is not None and b.expires_at > utcnow()]
    return given[-1] if given else None


def send_to_receiver(session: orm.Session, request_id: int, staff_id: int, *, name: str,
                     email: str) -> BundleTransmission:
    """Send the case's portability bundle to the receiver at `email` (releasing it first if it is under
    review) and tell the receiver and the subject, in the caller's transaction. Raises TransmissionRefused."""
    request = session.get(SubjectRequest, request_id)
    if request is None or request.right is not Right.PORTABILITY or receiving_service(request) is None:
        raise TransmissionRefused("email", _("Only a portability request that names a receiving service can be "
                                             "sent to it."))
    try:
        name = single_line(name, max_length=200, required_message=_("Enter the receiver's name."))
        email = normalise_email(email)
    except InvalidValue as exc:
        raise TransmissionRefused("name" if not (name or "").strip() else "email", exc.message) from None
    bundle = sendable_bundle(session, request)
    if bundle is None or bundle.kind is not BundleKind.PORTABILITY:
        raise TransmissionRefused("email", _("There is no bundle to send: wait until it is ready for review, or "
                                             "release a new one if it expired."))
    if bundle.status is BundleStatus.READY_FOR_REVIEW:
        release_bundle(session, bundle.id, staff_id)
    transmission = BundleTransmission(bundle_id=bundle.id, request_id=request.id, receiver_name=name,
                                      receiver_email=email, created_by_id=staff_id)
    session.add(transmission)
    session.flush()
    record(session, "bundle.sent_to_receiver", actor_type="staff", actor_id=staff_id, request_id=request.id,
           bundle_id=bundle.id, transmission_id=transmission.id)
    context = {"receiver_name": name, "receiver_email": email, "expires_at": bundle.expires_at}
    send_subject_letter(session, request, INVITATION_LETTER, to=email, author_id=staff_id,
                        direction=MessageDirection.TO_RECIPIENT, dedupe_key=f"receiver:{transmission.id}",
                        receive_url=external_url("export.receive", token=transmission.token), **context)
    send_subject_letter(session, request, SENT_LETTER, author_id=staff_id, dedupe_key=f"sent:{transmission.id}",
                        **context)
    return transmission


def transmission_by_token(session: orm.Session, token: str) -> BundleTransmission | None:
    if not TOKEN.match(token or ""):
        return None
    return session.scalar(sa.select(BundleTransmission).where(BundleTransmission.token == token))


def available(session: orm.Session, transmission: BundleTransmission) -> ExportBundle:
    """The bundle behind a transmission, if the receiver can download it now (reads only)."""
    bundle = session.get(ExportBundle, transmission.bundle_id)
    if bundle is None or bundle.status is not BundleStatus.RELEASED or bundle.deleted_at is not None \
            or bundle.expires_at is None or bundle.expires_at <= utcnow():
        raise TransmissionUnavailable("expired")
    if transmission.download_count >= int(current_app.config["BUNDLE_MAX_DOWNLOADS"]):
        raise TransmissionUnavailable("used_up")
    return bundle


def open_receiver_download(session: orm.Session, transmission: BundleTransmission) -> Download:
    """The receiver's download, after its code (checked by the view): counted with a compare-and-set and
    audited in the caller's transaction; commit before streaming."""
    bundle = available(session, transmission)
    limit = int(current_app.config["BUNDLE_MAX_DOWNLOADS"])
    counted = session.execute(
        sa.update(BundleTransmission)
        .where(BundleTransmission.id == transmission.id, BundleTransmission.download_count < limit)
        .values(download_count=BundleTransmission.download_count + 1, last_downloaded_at=utcnow())
        .returning(BundleTransmission.download_count)).scalar_one_or_none()
    if counted is None:
        raise TransmissionUnavailable("used_up")
    record(session, "bundle.receiver_downloaded", actor_type="system", request_id=transmission.request_id,
           bundle_id=bundle.id, transmission_id=transmission.id, count=counted)
    session.flush()
    request = session.get(SubjectRequest, transmission.request_id)
    return Download(filename=download_filename(bundle, request.reference), size=bundle.size_bytes or 0,
                    sha256=bundle.sha256 or "",
                    chunks=storage.open_sealed(storage.bundle_key(bundle.storage_name), BUNDLE_PURPOSE))
