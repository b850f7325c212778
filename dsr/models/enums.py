"""Closed vocabularies shared by models, services and templates (lower_snake values)."""
from enum import StrEnum


class Right(StrEnum):
    ACCESS = "access"  # Art. 15
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    RESTRICTION = "restriction"  # Art. 18
    PORTABILITY = "portability"  # Art. 20
    OBJECTION = "objection"  # Art. 21
    WITHDRAW_CONSENT = "withdraw_consent"  # Art. 7(3)


# Rights whose wrong answer to an impostor does real harm: the subject's data leaves, or is destroyed.
STEP_UP_RIGHTS = frozenset({Right.ACCESS, Right.PORTABILITY, Right.ERASURE})


class Channel(StrEnum):
    WEB = "web"
    EMAIL = "email"
    POST = "post"
    PHONE = "phone"
    IN_PERSON = "in_person"


class RequestStatus(StrEnum):
    AWAITING_VERIFICATION = "awaiting_verification"
    OPEN = "open"  # verified, waiting for triage
    AWAITING_SUBJECT = "awaiting_subject"  # staff asked the subject for information
    IN_PROGRESS = "in_progress"  # approved; systems are being worked
    READY_FOR_REVIEW = "ready_for_review"  # export assembled, staff review before release
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # by the subject
    EXPIRED = "expired"  # never verified


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    WAITING_FOR_STAFF = "waiting_for_staff"  # manual systems
    SKIPPED = "skipped"
    AWAITING_APPROVAL = "awaiting_approval"  # an action's plan waits for an officer


class TaskAction(StrEnum):
    EXPORT = "export"
    ERASE = "erase"
    RECTIFY = "rectify"
    RESTRICT = "restrict"
    OBJECT = "object"  # objection to direct marketing: that processing stops
    WITHDRAW_CONSENT = "withdraw_consent"  # the processing resting on that consent stops
    LIFT_RESTRICTION = "lift_restriction"  # Art. 18(3), once the subject was told
    FOLLOW_UP_ERASE = "follow_up_erase"  # what a hold kept, erased the day the hold ends


class NoticeState(StrEnum):
    SENT = "sent"  # the notice to the recipient is queued (its message says whether it went)
    WAITING_FOR_STAFF = "waiting_for_staff"  # a person tells the recipient, then confirms
    DONE = "done"


class MessageDirection(StrEnum):
    TO_SUBJECT = "to_subject"
    FROM_SUBJECT = "from_subject"
    TO_STAFF = "to_staff"
    TO_RECIPIENT = "to_recipient"  # Art. 19: a recipient of a system's data told of an action
    INTERNAL_NOTE = "internal_note"


class DeliveryChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PORTAL = "portal"  # shown on the case page only


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # retries exhausted: shown to staff
    NOT_SENT = "not_sent"  # internal notes, portal-only messages


class StaffRole(StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    VIEWER = "viewer"


class BundleKind(StrEnum):
    ACCESS = "access"
    PORTABILITY = "portability"


class BundleStatus(StrEnum):
    ASSEMBLING = "assembling"
    READY_FOR_REVIEW = "ready_for_review"
    RELEASED = "released"
    EXPIRED = "expired"
    FAILED = "failed"


class ChallengeChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class ChallengePurpose(StrEnum):
    VERIFY = "verify"  # first proof of the e-mail address
    STEP_UP = "step_up"  # second factor to the phone on file
    REOPEN = "reopen"  # re-open the case page
    DOWNLOAD = "download"  # fresh proof before a bundle download
    RECEIVER = "receiver"  # Art. 20(2): the receiving controller proves its address before its download
