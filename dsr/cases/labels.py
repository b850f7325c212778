"""The words staff read for the portal's codes (statuses, rights, channels, refusal grounds, identity
methods, audit actions), in the staff member's language. Templates use the `label` filter
(`{{ r.status|label }}`) so no page shows a raw code such as `awaiting_subject` or `email_code+sms_code`.

The mappings are keyed by enum type as well as value: StrEnum members of different types with the same
value ("pending") are equal and hash alike, so one flat dict would mix them up."""
from __future__ import annotations

from enum import StrEnum

from flask_babel import format_decimal, format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dsr.cases.conversation import REPLY_CHANNELS
from dsr.cases.decisions import REJECTION_LABELS, RejectionReason
from dsr.cases.opening import DIRECT_MARKETING, IDENTITY_METHODS, OTHER_CONSENT
from dsr.cases.states import Action, IllegalTransition
from dsr.models import (
    Channel,
    DeliveryChannel,
    DeliveryStatus,
    MessageDirection,
    NoticeState,
    PauseReason,
    RequestStatus,
    Right,
    StaffRole,
    TaskAction,
    TaskState,
)
from dsr.models.request import STAFF_IDENTITY_PREFIX

RIGHT_LABELS = {
    Right.ACCESS: _l("access"),
    Right.RECTIFICATION: _l("rectification"),
    Right.ERASURE: _l("erasure"),
    Right.RESTRICTION: _l("restriction"),
    Right.PORTABILITY: _l("portability"),
    Right.OBJECTION: _l("objection"),
    Right.WITHDRAW_CONSENT: _l("withdraw consent"),
}

STATUS_LABELS = {
    RequestStatus.AWAITING_VERIFICATION: _l("awaiting verification"),
    RequestStatus.OPEN: _l("open"),
    RequestStatus.AWAITING_SUBJECT: _l("awaiting subject"),
    RequestStatus.AWAITING_PAYMENT: _l("awaiting payment"),
    RequestStatus.IN_PROGRESS: _l("in progress"),
    RequestStatus.READY_FOR_REVIEW: _l("ready for review"),
    RequestStatus.COMPLETED: _l("completed"),
    RequestStatus.REJECTED: _l("rejected"),
    RequestStatus.WITHDRAWN: _l("withdrawn"),
    RequestStatus.EXPIRED: _l("expired"),
}

CHANNEL_LABELS = {
    Channel.WEB: _l("web"),
    Channel.EMAIL: _l("e-mail"),
    Channel.POST: _l("post"),
    Channel.PHONE: _l("phone"),
    Channel.IN_PERSON: _l("in person"),
}

TASK_STATE_LABELS = {
    TaskState.PENDING: _l("waiting"),
    TaskState.RUNNING: _l("running"),
    TaskState.DONE: _l("done"),
    TaskState.FAILED: _l("failed"),
    TaskState.WAITING_FOR_STAFF: _l("waiting for staff"),
    TaskState.SKIPPED: _l("skipped"),
    TaskState.AWAITING_APPROVAL: _l("awaiting approval"),
}

NOTICE_STATE_LABELS = {
    NoticeState.SENT: _l("sent"),
    NoticeState.WAITING_FOR_STAFF: _l("waiting for staff"),
    NoticeState.DONE: _l("done"),
}

TASK_ACTION_LABELS = {
    TaskAction.EXPORT: _l("export"),
    TaskAction.ERASE: _l("erase"),
    TaskAction.RECTIFY: _l("rectify"),
    TaskAction.RESTRICT: _l("restrict"),
    TaskAction.OBJECT: _l("stop direct marketing"),
    TaskAction.WITHDRAW_CONSENT: _l("withdraw consent"),
    TaskAction.LIFT_RESTRICTION: _l("lift restriction"),
    TaskAction.FOLLOW_UP_ERASE: _l("follow-up erasure"),
}

DELIVERY_STATUS_LABELS = {
    DeliveryStatus.PENDING: _l("pending"),
    DeliveryStatus.SENT: _l("sent"),
    DeliveryStatus.FAILED: _l("failed"),
    DeliveryStatus.NOT_SENT: _l("not sent"),
}

DELIVERY_CHANNEL_LABELS = {
    DeliveryChannel.EMAIL: _l("e-mail"),
    DeliveryChannel.SMS: _l("SMS"),
    DeliveryChannel.PORTAL: _l("case page"),
    DeliveryChannel.POST: _l("post"),
}

DIRECTION_LABELS = {
    MessageDirection.TO_SUBJECT: _l("To the subject"),
    MessageDirection.FROM_SUBJECT: _l("From the subject"),
    MessageDirection.TO_STAFF: _l("To staff"),
    MessageDirection.TO_RECIPIENT: _l("To a recipient"),
    MessageDirection.INTERNAL_NOTE: _l("Internal note"),
}

PAUSE_LABELS = {
    PauseReason.IDENTITY: _l("identity information asked for"),
    PauseReason.FEE: _l("waiting for the fee to be paid"),
}

ROLE_LABELS = {
    StaffRole.ADMIN: _l("admin"),
    StaffRole.OFFICER: _l("officer"),
    StaffRole.VIEWER: _l("viewer"),
}

REFUSAL_LABELS = {**REJECTION_LABELS, RejectionReason.NO_DATA_HELD: _l("An earlier reason: no data held")}

_BY_TYPE: dict[type, dict] = {
    Right: RIGHT_LABELS,
    RequestStatus: STATUS_LABELS,
    Channel: CHANNEL_LABELS,
    TaskState: TASK_STATE_LABELS,
    NoticeState: NOTICE_STATE_LABELS,
    TaskAction: TASK_ACTION_LABELS,
    DeliveryStatus: DELIVERY_STATUS_LABELS,
    DeliveryChannel: DELIVERY_CHANNEL_LABELS,
    MessageDirection: DIRECTION_LABELS,
    PauseReason: PAUSE_LABELS,
    StaffRole: ROLE_LABELS,
    RejectionReason: REFUSAL_LABELS,
}

#: how identity was established (SubjectRequest.identity_method; dsr.identity.verification's methods)
VERIFICATION_LABELS = {
    "email_code": _l("a code sent to the e-mail address"),
    "email_code+sms_code": _l("a code sent to the e-mail address and an SMS code to the phone on file"),
}

#: the keys of SubjectRequest.details (the questions of each right's form, dsr.intake.details)
DETAIL_LABELS = {
    "wrong": _l("What is wrong or missing"),
    "correct": _l("What it should say instead"),
    "processing": _l("Objects to"),
    "processing_text": _l("Which use of the data"),
    "reason": _l("Why the subject objects"),
    "consent": _l("Consent to withdraw"),
    "consent_text": _l("Which consent"),
    "receiving_service": _l("Send the data to"),
    "ground": _l("Ground for restriction"),
    "explanation": _l("Explanation"),
    "request": _l("What the subject asked for"),
}

#: the coded answers of those questions (free text is shown as written)
DETAIL_VALUE_LABELS = {
    "processing": {DIRECT_MARKETING: _l("direct marketing"), "other": _l("another use of the data")},
    "consent": {OTHER_CONSENT: _l("another consent")},
    "ground": {
        "accuracy": _l("the subject contests the accuracy of the data (Art. 18(1)(a))"),
        "unlawful": _l("unlawful processing, the subject opposes erasure (Art. 18(1)(b))"),
        "legal_claims": _l("needed by the subject for a legal claim (Art. 18(1)(c))"),
        "objection_pending": _l("objection pending (Art. 18(1)(d))"),
    },
}

#: audit actions on a case (dsr.audit.service.record), as staff read them in the audit trail
AUDIT_LABELS = {
    "request.expired": _l("Request expired unverified"),
    "request.reminded": _l("Reminder sent to verify"),
    "request.reduced": _l("Personal data removed under retention"),
    "request.identity_held": _l("Held for staff to establish identity"),
    "case.opened": _l("Case opened"),
    "case.approved": _l("Approved"),
    "case.approval_proposed": _l("Approval proposed"),
    "case.approval_refused": _l("Approval refused: a second officer must approve"),
    "case.rejected": _l("Refused"),
    "case.information_requested": _l("Subject asked for information"),
    "case.extended": _l("Deadline extended"),
    "case.assigned": _l("Assigned"),
    "case.completed": _l("Completed"),
    "case.withdrawn": _l("Closed as withdrawn"),
    "case.message_sent": _l("Message sent to the subject"),
    "case.note_added": _l("Internal note added"),
    "case.reply_recorded": _l("Subject's answer recorded by staff"),
    "case.subject_answered": _l("Subject answered"),
    "case.answered_no_data": _l("Answered: no data held"),
    "case.access_ended": _l("Subject's access to the case page ended"),
    "case.correspondence_downloaded": _l("Correspondence downloaded by staff"),
    "case.fee_charged": _l("Fee charged"),
    "case.fee_paid": _l("Fee paid"),
    "case.fee_waived": _l("Fee waived"),
    "subject.replied": _l("Subject's answer recorded"),
    "subject.correspondence_downloaded": _l("Correspondence downloaded by the subject"),
    "message.resent": _l("Message sent again"),
    "letter.posted": _l("Letter recorded as sent by post"),
    "task.retried": _l("System retried"),
    "representative.recorded": _l("Representative recorded"),
    "authorisation.attached": _l("Authorisation attached"),
    "authorisation.accepted": _l("Authorisation accepted"),
    "authorisation.rejected": _l("Authorisation rejected"),
    "authorisation.downloaded": _l("Authorisation downloaded"),
    "export.started": _l("Export started"),
    "export.manual_completed": _l("Manual export recorded"),
    "bundle.ready": _l("Export ready for review"),
    "bundle.previewed": _l("Export previewed"),
    "bundle.released": _l("Export released"),
    "bundle.downloaded": _l("Export downloaded by the subject"),
    "bundle.failed": _l("Export failed"),
    "bundle.retried": _l("Export retried"),
    "bundle.reassembled": _l("Export assembled again"),
    "bundle.deleted": _l("Export deleted"),
    "bundle.handed_over": _l("Export handed over"),
    "bundle.sent_to_receiver": _l("Export sent to the receiving service"),
    "bundle.receiver_downloaded": _l("Export downloaded by the receiving service"),
    "bundle.redaction_added": _l("Redaction added"),
    "bundle.redaction_removed": _l("Redaction removed"),
    "bundle.answer_chosen": _l("Answer chosen"),
    "bundle.partial_chosen": _l("Partial answer chosen"),
    "bundle.partial_discarded": _l("Partial answer discarded"),
    "bundle.digests_kept": _l("Export checksums kept"),
    "bundle.digests_missing": _l("Export checksums missing"),
    "actions.started": _l("Actions started"),
    "actions.done_by_hand": _l("Action done by hand"),
    "plan.proposed": _l("Plan proposed"),
    "plan.approved": _l("Plan approved"),
    "plan.approval_refused": _l("Plan approval refused"),
    "erasure.follow_up_scheduled": _l("Follow-up erasure scheduled"),
    "restriction.in_place": _l("Restriction in place"),
    "restriction.lift_requested": _l("Lifting the restriction requested"),
    "restriction.lift_started": _l("Lifting the restriction started"),
    "restriction.lifted": _l("Restriction lifted"),
    "rectification.statement_recorded": _l("Supplementary statement recorded"),
    "objection.decided": _l("Objection decided"),
    "notice.created": _l("Notice to a recipient created"),
    "notice.confirmed": _l("Notice to a recipient confirmed"),
}

#: what a status change refused (dsr.cases.states.IllegalTransition) tried to do, as a verb
ACTION_LABELS = {
    Action.VERIFY: _l("open"),
    Action.EXPIRE: _l("expire"),
    Action.WITHDRAW: _l("withdraw"),
    Action.APPROVE: _l("approve"),
    Action.REJECT: _l("refuse"),
    Action.ASK_SUBJECT: _l("ask the subject about"),
    Action.SUBJECT_ANSWERED: _l("record an answer to"),
    Action.RESUME_WORK: _l("resume work on"),
    Action.EXTEND: _l("extend"),
    Action.ASSIGN: _l("assign"),
    Action.BUNDLE_READY: _l("finish the export of"),
    Action.RELEASE: _l("release the export of"),
    Action.RELEASE_PART: _l("release part of the export of"),
    Action.COMPLETE: _l("complete"),
    Action.REOPEN_WORK: _l("reopen work on"),
    Action.CHARGE_FEE: _l("charge a fee for"),
    Action.FEE_SETTLED: _l("settle the fee of"),
    Action.ANSWER_NO_DATA: _l("answer \"no data\" to"),
}

#: the `reason` of an audit entry on a case
AUDIT_REASON_LABELS = {
    "immediate_effect": _l("takes effect at once (Art. 7(3), 21(3))"),
    "four_eyes": _l("a second officer must approve"),
    "phone_conflict": _l("the systems hold different phone numbers"),
    "systems_unreachable": _l("a system did not answer the lookup"),
}

ACTOR_LABELS = {"staff": _l("staff"), "subject": _l("subject"), "system": _l("system")}


def label(value) -> object:
    """The staff word for an enum member (any type above); anything else is shown as it is."""
    if isinstance(value, StrEnum):
        return _BY_TYPE.get(type(value), {}).get(value, value.value.replace("_", " "))
    return value if value is not None else ""


def verification_label(method: str | None) -> object:
    """How identity was established, in words (staff-established ones by IDENTITY_METHODS)."""
    method = method or ""
    if method.startswith(STAFF_IDENTITY_PREFIX):
        return IDENTITY_METHODS.get(method.removeprefix(STAFF_IDENTITY_PREFIX), method)
    return VERIFICATION_LABELS.get(method, method.replace("_", " "))


def detail_label(key: str) -> object:
    return DETAIL_LABELS.get(key, key.replace("_", " ").capitalize())


def detail_value(key: str, value: object) -> object:
    return DETAIL_VALUE_LABELS.get(key, {}).get(str(value), value)


def refusal_label(code: str | None) -> object:
    try:
        return REFUSAL_LABELS[RejectionReason(code)]
    except ValueError:
        return (code or "").replace("_", " ")


def audit_label(action: str) -> object:
    return AUDIT_LABELS.get(action, action)


def audit_details(details: dict | None) -> str:
    """An audit entry's details as staff read them: known codes in words (ids, counts and hashes stay)."""
    shown = []
    for key, value in (details or {}).items():
        if key in ("method", "identity_method"):
            value = verification_label(str(value))
        elif key in ("code", "reason_code", "rejection_code"):
            value = refusal_label(str(value))
        elif key in ("right", "status", "from_status", "to_status", "channel"):
            value = _coded_word(str(value))
        elif key == "reason":
            value = AUDIT_REASON_LABELS.get(str(value), value)
        elif isinstance(value, bool):
            value = _("yes") if value else _("no")
        shown.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(shown)


def _coded_word(text: str) -> object:
    for enum_type in (RequestStatus, Right, Channel):
        try:
            return label(enum_type(text))
        except ValueError:
            continue
    return text


def refused_transition(exc: IllegalTransition) -> str:
    """Why a status change was refused, as a sentence in the staff member's language."""
    return _("Cannot %(action)s a request that is %(status)s.", action=ACTION_LABELS.get(exc.action, exc.action),
             status=label(exc.status))


def decimal(number: float, pattern: str = "0.0") -> str:
    """A figure with the staff member's decimal sign (20.5 in English, 20,5 in Norwegian)."""
    return format_decimal(number, pattern)


def register(bp) -> None:
    """Template filters for every page (the fee and export pages reuse the case form page)."""
    bp.add_app_template_filter(label, "label")
    bp.add_app_template_filter(verification_label, "verification_label")
    bp.add_app_template_filter(refusal_label, "refusal_label")
    bp.add_app_template_filter(audit_label, "audit_label")
    bp.add_app_template_filter(audit_details, "audit_details")
    bp.add_app_template_filter(detail_label, "detail_label")
    bp.add_app_template_filter(decimal, "decimal")
    bp.add_app_template_global(ACTOR_LABELS, "actor_labels")
    bp.add_app_template_global(PAUSE_LABELS, "pause_labels")
    bp.add_app_template_global(REPLY_CHANNELS, "reply_channels")
    bp.add_app_template_global(format_number, "format_number")
