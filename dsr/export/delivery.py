"""Downloads of a bundle (the subject's, a password-protected copy, the staff review), and its
deletion once it expires.

The stored file is sealed; these functions hand out a decrypting stream (constant memory), read from
the store (the local folder, or ranged reads from S3).
The subject's download is bound to their own case: a download id of another case is simply
not found. Every preview and download is audited.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.db import utcnow
from dsr.export import protected as protected_zip
from dsr.export import storage
from dsr.export.assembly import BUNDLE_PURPOSE
from dsr.export.bundle_states import BUNDLE_STATES, BundleEvent
from dsr.export.delta import spools_awaiting_digests
from dsr.identity.verification import phone_on_file
from dsr.models import BundleStatus, ExportBundle, RequestStatus, SubjectRequest
from dsr.notify.service import queue_sms
from dsr.queue import QUEUE_DEFAULT, job


class BundleNotFound(LookupError):
    """No such bundle for this case (the view answers 404, never 403)."""


class BundleUnavailable(ValueError):
    """The bundle exists but cannot be had now: not released, expired, or downloaded too often (410)."""


class BundleExpired(BundleUnavailable):
    """The download link's time is up (or the file was deleted at expiry)."""


class DownloadsUsedUp(BundleUnavailable):
    """Downloaded BUNDLE_MAX_DOWNLOADS times already."""


class ProtectionUnavailable(ValueError):
    """A password-protected copy needs a phone on file to send the password to."""


@dataclass
class Download:
    filename: str  # fixed, built server-side: <reference>-<kind>.zip
    size: int
    sha256: str
    chunks: Iterator[bytes]
    mimetype: str = "application/zip"


def _stream(bundle: ExportBundle) -> Iterator[bytes]:
    return storage.open_sealed(storage.bundle_key(bundle.storage_name), BUNDLE_PURPOSE)


def download_filename(bundle: ExportBundle, reference: str, *, protected: bool = False) -> str:
    """The name the subject's browser saves the file under (fixed, built here, never from input); the
    password-protected copy's ends in -protected.zip."""
    return f"{reference}-{bundle.kind.value}{'-protected' if protected else ''}.zip"


def _download(bundle: ExportBundle, request: SubjectRequest) -> Download:
    return Download(filename=download_filename(bundle, request.reference), size=bundle.size_bytes or 0,
                    sha256=bundle.sha256 or "", chunks=_stream(bundle))


def downloadable_bundle(session: orm.Session, request_id: int, download_id: str) -> ExportBundle:
    """The released bundle behind a download link of this case, if it can be downloaded now (reads only).

    Raises BundleNotFound (another case's id, or not released) or BundleUnavailable: BundleExpired,
    DownloadsUsedUp."""
    bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.download_id == download_id,
                                                          ExportBundle.request_id == request_id))
    if bundle is None:
        raise BundleNotFound(download_id)
    if bundle.status is BundleStatus.EXPIRED or bundle.deleted_at is not None \
            or (bundle.expires_at is not None and bundle.expires_at <= utcnow()):
        raise BundleExpired("this download link has expired")
    if bundle.status is not BundleStatus.RELEASED or bundle.medium is not None:  # handed over: no link
        raise BundleNotFound(download_id)
    if bundle.download_count >= int(current_app.config["BUNDLE_MAX_DOWNLOADS"]):
        raise DownloadsUsedUp("this bundle was downloaded the most times allowed; ask us for a new link")
    return bundle


def open_download_stream(session: orm.Session, request_id: int, download_id: str, *,
                         protected: bool = False) -> Download:
    """The subject's download of their released bundle (after a fresh code, checked by the view).

    Counts and audits the download in the caller's transaction: commit before streaming."""
    bundle = downloadable_bundle(session, request_id, download_id)
    now = utcnow()
    # Counted with a compare-and-set: two downloads at once cannot both take the last one allowed.
    limit = int(current_app.config["BUNDLE_MAX_DOWNLOADS"])
    counted = session.execute(
        sa.update(ExportBundle)
        .where(ExportBundle.id == bundle.id, ExportBundle.download_count < limit)
        .values(download_count=ExportBundle.download_count + 1, last_downloaded_at=now)
        .returning(ExportBundle.download_count)
    ).scalar_one_or_none()
    if counted is None:
        raise DownloadsUsedUp("this bundle was downloaded the most times allowed; ask us for a new link")
    session.refresh(bundle, ["download_count", "last_downloaded_at"])
    record(session, "bundle.downloaded", actor_type="subject", request_id=request_id, bundle_id=bundle.id,
           count=counted, protected=protected)
    session.flush()
    return _download(bundle, session.get(SubjectRequest, request_id))


def open_protected_download(session: orm.Session, request_id: int, download_id: str) -> Download:
    """The same download as a password-protected ZIP (dsr.export.protected); the password is queued by
    SMS to the phone on file, in the caller's transaction. The file is written before the caller
    commits, so a failure (a full disk) leaves the download uncounted and sends no password."""
    request = session.get(SubjectRequest, request_id)
    phone = phone_on_file(session, request)
    if phone is None:
        raise ProtectionUnavailable("no phone number is on file for you, so we cannot send a password")
    download = open_download_stream(session, request_id, download_id, protected=True)
    password = protected_zip.new_password()
    chunks, size = protected_zip.write_protected(download.chunks, password)
    queue_sms(session, to=phone, template="download_password", language=request.language,
              context={"reference": request.reference, "controller": current_app.extensions["dsr.controller"]},
              request_id=request_id, secret=password)
    return Download(filename=download.filename.removesuffix(".zip") + "-protected.zip", size=size, sha256="",
                    chunks=chunks)


def open_staff_preview(session: orm.Session, bundle_id: int, staff_id: int) -> Download:
    """Staff review the bundle before release (audited; does not count as the subject's download)."""
    bundle = session.get(ExportBundle, bundle_id)
    if bundle is None or bundle.status not in (BundleStatus.READY_FOR_REVIEW, BundleStatus.RELEASED):
        raise BundleNotFound(bundle_id)
    record(session, "bundle.previewed", actor_type="staff", actor_id=staff_id, request_id=bundle.request_id,
           bundle_id=bundle.id)
    session.flush()
    return _download(bundle, session.get(SubjectRequest, bundle.request_id))


def delete_expired_bundles(session: orm.Session) -> int:
    """Released bundles past expiry: the file is deleted and the row marked (kept as proof of handling)."""
    now = utcnow()
    expired = session.scalars(sa.select(ExportBundle).where(
        ExportBundle.status == BundleStatus.RELEASED, ExportBundle.expires_at <= now,
        ExportBundle.deleted_at.is_(None))).all()
    for bundle in expired:
        if bundle.storage_name:
            storage.delete_bundle(bundle.storage_name)
        bundle.status = BUNDLE_STATES.target(bundle.status, BundleEvent.EXPIRE)
        bundle.deleted_at = now
        record(session, "bundle.deleted", actor_type="system", request_id=bundle.request_id, bundle_id=bundle.id,
               reason="expired")
    session.flush()
    _remove_stale_spools(session)
    storage.sweep_incomplete()  # what a killed worker left half-written (temporary files, uploads)
    return len(expired)


def _remove_stale_spools(session: orm.Session) -> None:
    """Per-system spool files of cases no longer worked on (withdrawn, closed by hand, answered) are
    deleted: no loose copies of personal data outside a bundle. A case in review keeps them (a partial
    bundle's, for a retry of the failed system), and so does one whose released bundle waits for its
    digest job (dsr.export.delta), which deletes them itself."""
    ids = storage.spooled_request_ids()
    if not ids:
        return
    open_ids = set(session.scalars(sa.select(SubjectRequest.id).where(
        SubjectRequest.id.in_(ids), SubjectRequest.status.in_([RequestStatus.IN_PROGRESS, RequestStatus.READY_FOR_REVIEW]))))
    open_ids |= spools_awaiting_digests(session)
    for request_id in ids:
        if request_id not in open_ids:
            storage.remove_request_spool(request_id)


@job(QUEUE_DEFAULT, every=3600)
def expire_bundles(session: orm.Session) -> int:
    """Hourly: released bundles past their expiry are deleted."""
    return delete_expired_bundles(session)
