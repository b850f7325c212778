"""All models, imported here so Base.metadata is complete for Alembic and tests."""
from dsr.models.access import CaseAccess
from dsr.models.audit import AuditEvent
from dsr.models.bundle import BundleRedaction, BundleTransmission, ExportBundle, RecordDigest
from dsr.models.canary import SystemCanary
from dsr.models.enums import (
    AuthorisationState,
    BundleKind,
    BundleStatus,
    ChallengeChannel,
    ChallengePurpose,
    Channel,
    DeliveryChannel,
    DeliveryStatus,
    FeeGround,
    FeeState,
    Handover,
    HandoverMedium,
    MessageDirection,
    NoticeState,
    PauseReason,
    Relationship,
    RequestStatus,
    Right,
    StaffRole,
    TaskAction,
    TaskState,
)
from dsr.models.fee import CaseFee
from dsr.models.location import SubjectLocation
from dsr.models.message import Message
from dsr.models.notice import RecipientNotice
from dsr.models.outbox import OutboxJob
from dsr.models.representative import Representative
from dsr.models.request import ClockPause, SubjectRequest
from dsr.models.staff import StaffUser
from dsr.models.task import SystemTask
from dsr.models.verification import VerificationChallenge

__all__ = [
    "AuthorisationState", "Handover", "HandoverMedium", "Relationship", "Representative",
    "CaseFee", "FeeGround", "FeeState", "PauseReason", "BundleRedaction", "BundleTransmission",
    "AuditEvent", "BundleKind", "BundleStatus", "CaseAccess", "ChallengeChannel", "ChallengePurpose", "Channel",
    "ClockPause", "DeliveryChannel", "DeliveryStatus", "ExportBundle", "Message", "MessageDirection", "NoticeState",
    "OutboxJob", "RecipientNotice", "RecordDigest", "RequestStatus", "Right", "StaffRole", "StaffUser", "SubjectLocation", "SubjectRequest", "SystemCanary", "SystemTask",
    "TaskAction", "TaskState", "VerificationChallenge",
]
