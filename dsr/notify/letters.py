"""Letters to the data subject: the one way any part of the portal writes to them by e-mail.

Every letter gets the same facts about the case (its reference, the right, when it was received and
is due, the link to the case page, ...) in the case's language; the caller adds its own. The case link
is a placeholder in the stored letter: the send job makes it (dsr.notify.service)."""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import orm

from dsr.deadlines.rules import local_date
from dsr.links import external_url
from dsr.models import Message, MessageDirection, SubjectRequest
from dsr.notify.service import CASE_LINK_PLACEHOLDER, queue_email
from dsr.rights_text import RIGHT_TITLES


def subject_letter_context(request: SubjectRequest) -> dict[str, Any]:
    """What every letter about this case may say (the templates pick what they need)."""
    return {
        "case": request,
        "reference": request.reference,
        "right": request.right,
        "right_title": RIGHT_TITLES[request.right],
        "received_at": request.received_at,
        "received_on": local_date(request.received_at, current_app.extensions["dsr.controller"].timezone),
        "due_on": request.deadline_on,
        "case_url": CASE_LINK_PLACEHOLDER,
        "verify_page_url": external_url("identity.verify", public_id=request.public_id),
        "start_url": external_url("intake.index"),
        "expiry_days": int(current_app.config["VERIFICATION_EXPIRY_SECONDS"]) // 86400,
    }


def send_subject_letter(session: orm.Session, request: SubjectRequest, template: str, *,
                        author_id: int | None = None, dedupe_key: str | None = None, secret: str | None = None,
                        to: str | None = None, direction: MessageDirection = MessageDirection.TO_SUBJECT,
                        **context: Any) -> Message:
    """Render the letter in the case's language, store it and send it after the commit (to the
    request's e-mail unless `to` names the address a code must go to; a letter about the case to someone
    else, e.g. the controller receiving a portability bundle, has `direction` TO_RECIPIENT)."""
    return queue_email(session, to=to or request.email, template=template, language=request.language,
                       context={**subject_letter_context(request), **context}, request_id=request.id,
                       author_id=author_id, dedupe_key=dedupe_key, secret=secret, direction=direction)
