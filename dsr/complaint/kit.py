"""What the complaint kit holds, and the file itself.

Datatilsynet asks a complainant to attach their correspondence with the controller. The kit gives it in
one file: the request (reference, right, when it was received), the deadlines (due date, the extension
and its reason, pauses of the clock), every decision with its legal ground, every letter and message
between the subject and the controller with its date, and the controller's and the supervisory
authority's addresses. One HTML file, its style inside it (A4 print CSS), no external resource.

It never holds a bearer link or a code: a stored letter names its links and codes by placeholders
(dsr.notify.service.shown_text), letters stored before those get their portal links and codes named
here, and the page itself links nowhere on the portal. Nothing about other people: no staff names,
no internal notes, no mail to staff or to recipients of the data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.controller import Controller
from dsr.deadlines.service import deadlines_for
from dsr.models import (
    BundleStatus,
    CaseFee,
    DeliveryStatus,
    ExportBundle,
    FeeGround,
    FeeState,
    Message,
    MessageDirection,
    PauseReason,
    RequestStatus,
    SubjectRequest,
)
from dsr.notify.service import CASE_LINK_PLACEHOLDER, PLACEHOLDER_LABELS, SECRET_PLACEHOLDER, shown_text
from dsr.rights_text import RIGHT_TITLES

TEMPLATE = "subject/complaint_kit.html"
#: a case closed by an answer the subject may want to complain about: a refusal, or an answer given
#: (a "no data" answer, a released bundle, partial or not, an outcome letter)
OFFERED_STATUSES = frozenset({RequestStatus.REJECTED, RequestStatus.COMPLETED})
#: letters whose bodies carried a one-time code in clear before codes became placeholders
_CODE_LETTERS = frozenset({"request_received", "verification_code", "verification_reminder", "step_up_code",
                           "reopen_code", "download_code"})
_CODE = re.compile(r"\b\d{6}\b")

REFUSAL_GROUNDS = {
    "identity_not_confirmed": _l("We could not confirm that the request came from the person the data is "
                                 "about (GDPR Articles 11(2) and 12(2))."),
    "manifestly_unfounded": _l("The request is manifestly unfounded (GDPR Article 12(5))."),
    "excessive": _l("The request is excessive, in particular because it repeats earlier requests (GDPR "
                    "Article 12(5))."),
    "no_data_held": _l("We hold no personal data about you that the request concerns."),
    "exemption": _l("An exemption in the law applies:"),
    "other": _l("The reasons are given in the explanation."),
}
FEE_GROUNDS = {
    FeeGround.EXCESSIVE: _l("The request is manifestly unfounded or excessive, in particular repetitive (GDPR "
                            "Article 12(5))."),
    FeeGround.FURTHER_COPY: _l("A further copy of data you already received (GDPR Article 15(3))."),
}
PAUSE_REASONS = {
    PauseReason.IDENTITY: _l("we asked for information to confirm who you are"),
    PauseReason.FEE: _l("we waited for the fee to be paid"),
}


def offers_complaint_kit(request: SubjectRequest) -> bool:
    return request.status in OFFERED_STATUSES


@dataclass(frozen=True)
class Decision:
    at: datetime
    what: Any  # lazy text
    ground: Any = None  # the legal ground (lazy text), if the decision rests on one
    detail: str = ""  # the officer's words as the subject was told them
    law: str = ""  # the law an exemption rests on, as the officer named it


@dataclass(frozen=True)
class Letter:
    at: datetime
    from_subject: bool
    channel: str  # "email", "sms", "portal"
    subject_line: str
    text: str
    delivered_at: datetime | None
    not_delivered: bool


@dataclass(frozen=True)
class Pause:
    started_at: datetime
    ended_at: datetime | None
    reason: Any


@dataclass(frozen=True)
class ComplaintKit:
    request: SubjectRequest
    right_title: Any
    controller: Controller
    deadlines: Any  # dsr.deadlines.rules.Deadlines
    pauses: list[Pause]
    decisions: list[Decision]
    letters: list[Letter]
    made_at: datetime
    reduced: bool  # the portal's retention removed the texts


def build_kit(session: orm.Session, request: SubjectRequest, controller: Controller, now: datetime) -> ComplaintKit:
    letters = [_letter(message, request) for message in session.scalars(
        sa.select(Message)
        .where(Message.request_id == request.id,
               Message.direction.in_([MessageDirection.TO_SUBJECT, MessageDirection.FROM_SUBJECT]))
        .order_by(Message.created_at, Message.id))]
    return ComplaintKit(
        request=request, right_title=RIGHT_TITLES[request.right],
        controller=controller.in_language(request.language),  # its addresses as the case's language writes them
        deadlines=deadlines_for(request, controller, now=now),
        pauses=[Pause(p.started_at, p.ended_at, PAUSE_REASONS.get(p.reason, p.reason)) for p in request.pauses],
        decisions=_decisions(session, request), letters=letters, made_at=now, reduced=request.reduced_at is not None)


def _decisions(session: orm.Session, request: SubjectRequest) -> list[Decision]:
    found: list[Decision] = []
    fees = session.scalars(sa.select(CaseFee).where(CaseFee.request_id == request.id).order_by(CaseFee.id)).all()
    for fee in fees:
        amount = fee.amount_text(request.language)
        found.append(Decision(fee.charged_at, _l("We asked for a fee of %(amount)s.", amount=amount),
                              FEE_GROUNDS[fee.ground], fee.reason))
        if fee.state is FeeState.PAID and fee.settled_at:
            found.append(Decision(fee.settled_at, _l("We received your payment of %(amount)s.", amount=amount)))
        elif fee.state is FeeState.WAIVED and fee.settled_at:
            found.append(Decision(fee.settled_at, _l("We dropped the fee: the request was handled free of charge.")))
    if request.extended_at:
        found.append(Decision(request.extended_at, _l("We extended the time limit (see the deadlines above)."),
                              _l("GDPR Article 12(3): the request is complex, or we have many requests."),
                              request.extension_reason or ""))
    if request.rejection_code:
        found.append(Decision(request.decided_at or request.closed_at, _l("We turned down your request."),
                              REFUSAL_GROUNDS.get(request.rejection_code, REFUSAL_GROUNDS["other"]),
                              request.rejection_text or "", law=request.rejection_law or ""))
    elif request.decided_at and request.decided_at != request.answered_no_data_at:
        found.append(Decision(request.decided_at, _l("We started carrying out your request.")))
    if request.objection_outcome:
        what = (_l("We upheld your objection.") if request.objection_outcome == "upheld"
                else _l("We did not uphold your objection: we continue to use the data."))
        found.append(Decision(request.closed_at or request.decided_at, what,
                              _l("GDPR Article 21(1): our grounds weighed against yours."), request.objection_grounds or ""))
    if request.answered_no_data_at:
        found.append(Decision(request.answered_no_data_at, _l("We answered: we hold no personal data about you."),
                              _l("GDPR Article 15(1): confirmation of whether we process data about you."),
                              request.outcome_note or ""))
    for bundle in session.scalars(sa.select(ExportBundle).where(
            ExportBundle.request_id == request.id, ExportBundle.released_at.is_not(None),
            ExportBundle.status.in_([BundleStatus.RELEASED, BundleStatus.EXPIRED]))):
        what = (_l("We released part of your data to you: some of our systems could not be searched in time.")
                if bundle.partial else _l("We released your data to you."))
        article = _l("GDPR Article 20") if bundle.kind.value == "portability" else _l("GDPR Article 15")
        found.append(Decision(bundle.released_at, what, article))
    if request.withdrawn_at:
        found.append(Decision(request.withdrawn_at, _l("The request was withdrawn.")))
    elif request.status is RequestStatus.COMPLETED and request.closed_at and not request.answered_no_data_at:
        found.append(Decision(request.closed_at, _l("We answered your request.")))
    return sorted((d for d in found if d.at is not None), key=lambda d: d.at)


def _letter(message: Message, request: SubjectRequest) -> Letter:
    return Letter(
        at=message.created_at, from_subject=message.direction is MessageDirection.FROM_SUBJECT,
        channel=message.channel.value, subject_line=message.subject_line or "",
        text=without_secrets(message.body_text, message.template, request),
        delivered_at=message.sent_at, not_delivered=message.status is DeliveryStatus.FAILED)


def without_secrets(body: str | None, template: str | None, request: SubjectRequest) -> str:
    """A stored letter with every link to the portal and every code named, never given: the kit is a file
    the subject sends on, and a link or code in it would let its reader act as the subject."""
    text = shown_text(body)
    base = current_app.config["BASE_URL"].rstrip("/")
    link_label = str(PLACEHOLDER_LABELS[CASE_LINK_PLACEHOLDER])
    text = re.sub(re.escape(base) + r"/\S*", link_label, text)
    if request.public_id:
        text = text.replace(request.public_id, link_label)
    if template in _CODE_LETTERS:
        text = _CODE.sub(str(PLACEHOLDER_LABELS[SECRET_PLACEHOLDER]), text)
    return text


def render_kit(kit: ComplaintKit) -> str:
    """The kit's HTML in the case's language."""
    with force_locale(kit.request.language):
        return render_template(TEMPLATE, kit=kit, language=kit.request.language)


def kit_filename(request: SubjectRequest) -> str:
    stem = "korrespondanse" if request.language == "nb" else "correspondence"
    return f"{stem}-{request.reference}.html"


def kit_response(page: str, filename: str) -> Response:
    """The kit as a download: saved, not shown (so the site's pages never frame or cache it)."""
    response = Response(page, mimetype="text/html")
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["Cache-Control"] = "no-store"
    return response
