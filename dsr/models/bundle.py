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
    #: an answer may come in parts: a partial bundle released while systems failed is part 1, and the
    #: bundle of the systems that were retried after it is part 2 (dsr.export.parts)
    part: Mapped[int] = mapped_column(default=1)
    #: the systems this bundle answers for (those finished when it was assembled)
    systems: Mapped[list[str] | None] = mapped_column(sa.JSON)
    #: a delta bundle: only what changed since the answer to this earlier request (dsr.export.delta)
    changes_since_request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subject_requests.id"))
    #: when the keyed digests of the released records were kept (RecordDigest), and the key's id
    digests_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    digest_key: Mapped[str | None] = mapped_column(sa.String(16))

    __table_args__ = (sa.UniqueConstraint("request_id", "kind", "part"),)


class BundleRedaction(Base):
    """Art. 15(4): staff leave other people's data out of the bundle, with a reason. Applied when the
    bundle is assembled (the spools stay as collected); the bundle says what was left out and why."""

    __tablename__ = "bundle_redactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    system_key: Mapped[str] = mapped_column(sa.String(64))
    #: None: the file a person uploaded for a manual system is withheld whole
    collection: Mapped[str | None] = mapped_column(sa.String(64))
    #: field names removed from every record of the collection
    fields: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: records removed: values of the collection's key field, or row numbers (1-based) without one
    rows: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    reason: Mapped[str] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BundleTransmission(Base):
    """Art. 20(2): a portability bundle sent to the controller the subject named. The receiver proves its
    address with a code before each download (dsr.export.transmission)."""

    __tablename__ = "bundle_transmissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[int] = mapped_column(sa.ForeignKey("export_bundles.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    receiver_name: Mapped[str] = mapped_column(sa.String(200))
    receiver_email: Mapped[str] = mapped_column(sa.String(254))
    #: opaque id in the receiver's URL; it only lets one ask for a code to receiver_email
    token: Mapped[str] = mapped_column(sa.String(32), unique=True, default=lambda: secrets.token_urlsafe(16))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    download_count: Mapped[int] = mapped_column(default=0)
    last_downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecordDigest(Base):
    """What a released access bundle held, comparable without its content: per record a keyed hash of its
    key and one of its content (dsr.export.delta). A repeat request can then be answered with what changed."""

    __tablename__ = "record_digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[int] = mapped_column(sa.ForeignKey("export_bundles.id", ondelete="CASCADE"), index=True)
    system_key: Mapped[str] = mapped_column(sa.String(64))
    collection: Mapped[str] = mapped_column(sa.String(64))
    key_digest: Mapped[str] = mapped_column(sa.String(32))
    content_digest: Mapped[str] = mapped_column(sa.String(32))
