"""What the subject's pages say about the released export bundle (read only).

The download itself is `dsr.export.delivery.open_download_stream` (counted and audited there);
the fresh code before it is a DOWNLOAD challenge of `dsr.identity.codes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_decimal
from sqlalchemy import orm

from dsr.export.delivery import (
    BundleExpired,
    BundleNotFound,
    DownloadsUsedUp,
    download_filename,
    downloadable_bundle,
)
from dsr.identity.verification import fresh_code_route
from dsr.models import (
    AuditEvent,
    BundleStatus,
    BundleTransmission,
    ChallengeChannel,
    ExportBundle,
    SubjectRequest,
)


@dataclass(frozen=True)
class DownloadOffer:
    """The case's released bundle as the subject sees it."""

    bundle: ExportBundle
    #: None while it can be downloaded; "expired" or "used_up" (downloaded the most times allowed)
    unavailable: str | None
    #: the code before the download goes by SMS (the case was opened with e-mail + SMS)
    code_by_sms: bool = False
    #: the latest download, for the case page's confirmation (None before the first)
    downloaded: LastDownload | None = None

    @property
    def download_id(self) -> str:
        return self.bundle.download_id

    @property
    def expires_at(self) -> datetime | None:
        return self.bundle.expires_at

    @property
    def part(self) -> int:
        return self.bundle.part

    @property
    def portability(self) -> bool:
        return self.bundle.kind.value == "portability"

    @property
    def downloads_left(self) -> int:
        return max(0, int(current_app.config["BUNDLE_MAX_DOWNLOADS"]) - self.bundle.download_count)

    @property
    def size_text(self) -> str:
        return size_text(self.bundle.size_bytes or 0)


def size_text(size: int) -> str:
    """1.2 MB / 340 kB in the page's number format."""
    if size >= 1_000_000:
        return f"{format_decimal(round(size / 1_000_000, 1))} MB"
    return f"{format_decimal(max(1, round(size / 1000)))} kB"


def download_offers(session: orm.Session, request: SubjectRequest) -> list[DownloadOffer]:
    """The bundles released to the subject of `request`, one per part of the answer (none before release)."""
    if request.decided_at is None:
        return []  # bundles are released only after the decision: no query on the busy case page
    bundles = session.scalars(
        sa.select(ExportBundle)
        .where(ExportBundle.request_id == request.id,
               ExportBundle.status.in_([BundleStatus.RELEASED, BundleStatus.EXPIRED]))
        .order_by(ExportBundle.part)
    ).all()
    if not bundles:
        return []
    by_sms = fresh_code_route(session, request).channel is ChallengeChannel.SMS
    return [DownloadOffer(bundle=bundle, unavailable=unavailable_reason(session, bundle), code_by_sms=by_sms,
                          downloaded=last_download(session, bundle, request.reference))
            for bundle in bundles]


def unavailable_reason(session: orm.Session, bundle: ExportBundle) -> str | None:
    """Why a released bundle cannot be downloaded now: the rules of open_download_stream, read only."""
    try:
        downloadable_bundle(session, bundle.request_id, bundle.download_id)
    except BundleExpired:
        return "expired"
    except DownloadsUsedUp:
        return "used_up"
    except BundleNotFound:
        return "expired"  # deleted meanwhile
    return None


@dataclass(frozen=True)
class LastDownload:
    """The confirmation a download page shows once the file went out: the browser stays on the page it
    posted from, so without it the page would still ask for a code as if nothing had happened."""

    at: datetime
    filename: str
    size_text: str | None  # None for the password-protected copy (its size is not kept)
    downloads_left: int  # 0: this link is now used
    #: the receiving controller's download (Art. 20(2)): "the data", not "your data"
    by_receiver: bool = False

    @property
    def link_used(self) -> bool:
        return self.downloads_left == 0


def last_download(session: orm.Session, bundle: ExportBundle, reference: str) -> LastDownload | None:
    """The latest download of `bundle`, or None before the first (reads only)."""
    if bundle.last_downloaded_at is None:
        return None
    # The audit record says whether it was the password-protected copy (a different name and size).
    latest = session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "bundle.downloaded", AuditEvent.request_id == bundle.request_id)
        .order_by(AuditEvent.seq.desc()).limit(5)).all()
    protected = next((bool(event.details.get("protected")) for event in latest
                      if event.details.get("bundle_id") == bundle.id), False)
    left = max(0, int(current_app.config["BUNDLE_MAX_DOWNLOADS"]) - bundle.download_count)
    return LastDownload(at=bundle.last_downloaded_at,
                        filename=download_filename(bundle, reference, protected=protected),
                        size_text=None if protected else size_text(bundle.size_bytes or 0), downloads_left=left)


def bundle_of_link(session: orm.Session, request_id: int, download_id: str) -> ExportBundle | None:
    """The case's bundle behind a download link, whatever its state (for the page that says it is gone)."""
    return session.scalar(sa.select(ExportBundle).where(ExportBundle.download_id == download_id,
                                                        ExportBundle.request_id == request_id))


def receiver_last_download(session: orm.Session, transmission: BundleTransmission,
                           reference: str) -> LastDownload | None:
    """The receiving controller's latest download of a transmission, or None before the first (reads only)."""
    bundle = session.get(ExportBundle, transmission.bundle_id)
    if transmission.last_downloaded_at is None or bundle is None:
        return None
    left = max(0, int(current_app.config["BUNDLE_MAX_DOWNLOADS"]) - transmission.download_count)
    return LastDownload(at=transmission.last_downloaded_at, filename=download_filename(bundle, reference),
                        size_text=size_text(bundle.size_bytes or 0), downloads_left=left, by_receiver=True)
