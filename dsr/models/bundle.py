"""The export bundle of an access or portability case."""
from __future__ import annotations

import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsr.db import Base, utcnow
from dsr.models.enums import BundleKind, BundleStatus, Handover, HandoverMedium
from dsr.models.types import StrEnumType, UTCDateTime


class ExportBundle(Base):
    __tablename__ = "export_bundles"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    kind: Mapped[BundleKind] = mapped_column(StrEnumType(BundleKind))
    status: Mapped[BundleStatus] = mapped_column(StrEnumType(BundleStatus), default=BundleStatus.ASSEMBLING)
    #: opaque id in the download URL; the file path is always built server-side
    download_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=lambda: secrets.token_urlsafe(16))
    storage_name: Mapped[str | None] = mapped_column(sa.String(200))
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    manifest_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: some systems failed and staff chose to release what there is
    partial: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    download_count: Mapped[int] = mapped_column(default=0)
    last_downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: released on a medium staff handed over (a subject answered by post: no download link)
    medium: Mapped[HandoverMedium | None] = mapped_column(StrEnumType(HandoverMedium))
    handover: Mapped[Handover | None] = mapped_column(StrEnumType(Handover))
    #: the person the medium was given or sent to
    handed_to: Mapped[str | None] = mapped_column(sa.String(200))
    handed_over_on: Mapped[date | None] = mapped_column(sa.Date)
    #: an assembling bundle whose lease passed belongs to a dead worker: the sweeper re-queues it
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("request_id", "kind"),)
