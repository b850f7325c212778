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
    AWAITING_PAYMENT = "awaiting_payment"  # a fee was charged (Art. 12(5), 15(3)); the clock waits for it
    IN_PROGRESS = "in_progress"  # approved; systems are being worked
    READY_FOR_REVIEW = "ready_for_review"  # export assembled, staff review before release
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # by the subject
    EXPIRED = "expired"  # never verified


class PauseReason(StrEnum):
    """Why the legal clock stands still (ClockPause.reason)."""

    IDENTITY = "identity"  # information to confirm identity asked for and outstanding (Art. 12(6))
    FEE = "fee"  # a fee charged under Art. 12(5) or 15(3) and not yet paid


class FeeGround(StrEnum):
    """Why a fee is charged for a request that is otherwise free."""

    EXCESSIVE = "excessive"  # Art. 12(5)(a): manifestly unfounded or excessive, in particular repetitive
    FURTHER_COPY = "further_copy"  # Art. 15(3): a further copy of data the subject already received


class FeeState(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"  # staff recorded the payment: the request goes on as approved
    WAIVED = "waived"  # staff dropped the fee: the request is handled free


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
    POST = "post"  # printed by staff and sent by post; "sent" once staff confirm it went


class Relationship(StrEnum):
    """How a representative stands to the data subject they file for."""

    PARENT = "parent"  # a parent for a child
    GUARDIAN = "guardian"  # a guardian (verge) appointed for the subject
    LAWYER = "lawyer"  # a lawyer or another representative with a power of attorney
    EMPLOYER = "employer"  # an employer for its employees
    OTHER = "other"


class AuthorisationState(StrEnum):
    """Staff's check of a representative's authorisation; nothing is searched until it is ACCEPTED."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class HandoverMedium(StrEnum):
    """What a bundle was handed over on, for a subject answered by post (no download link)."""

    USB_STICK = "usb_stick"
    PRINTED_COPY = "printed_copy"
    DISC = "disc"  # CD or DVD


class Handover(StrEnum):
    """How the medium reached the subject (or their representative)."""

    IN_PERSON = "in_person"  # collected at our office
    BY_POST = "by_post"


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
