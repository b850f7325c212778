"""Letters to the data subject: the one way any part of the portal writes to them.

Every letter gets the same facts about the case (its reference, the right, when it was received and
is due, the link to the case page, ...) in the case's language; the caller adds its own. The case link
is a placeholder in the stored letter: the send job makes it (dsr.notify.service).

The channel follows from the case: the letter goes by e-mail to whoever is answered (the subject, or
the representative acting for them, the subject then named in the letter); with no e-mail to answer
to, it is a letter staff print and post (DeliveryChannel.POST), the same template with `by_post` set."""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import orm

from dsr.deadlines.rules import local_date
from dsr.deadlines.service import deadlines_for
from dsr.links import external_url
from dsr.models import Message, MessageDirection, SubjectRequest
from dsr.notify.service import CASE_LINK_PLACEHOLDER, queue_email, queue_post_letter
from dsr.rights_text import RIGHT_TITLES


def subject_letter_context(request: SubjectRequest) -> dict[str, Any]:
    """What every letter about this case may say (the templates pick what they need)."""
    controller = current_app.extensions["dsr.controller"]
    deadlines = deadlines_for(request, controller)
    # The controller's promise ("within 30 days") is what a letter states while it sets the date.
    promised = deadlines.promise_binds and request.extended_at is None
    return {
        "promised_days": deadlines.promised_days if promised else None,
        "legal_due_on": deadlines.legal_due_on if promised else None,
        "case": request,
        "reference": request.reference,
        "right": request.right,
        "right_title": RIGHT_TITLES[request.right],
        "received_at": request.received_at,
        "received_on": local_date(request.received_at, controller.timezone),
        "due_on": request.deadline_on,
        "case_url": CASE_LINK_PLACEHOLDER,
        "verify_page_url": external_url("identity.verify", public_id=request.public_id),
        "start_url": external_url("intake.index"),
        "expiry_days": int(current_app.config["VERIFICATION_EXPIRY_SECONDS"]) // 86400,
        # someone acting for the subject gets the letters: each names the subject they act for
        "on_behalf_of": request.full_name if request.representative is not None else None,
        "by_post": False,
    }


def send_subject_letter(session: orm.Session, request: SubjectRequest, template: str, *,
                        author_id: int | None = None, dedupe_key: str | None = None, secret: str | None = None,
                        to: str | None = None, direction: MessageDirection = MessageDirection.TO_SUBJECT,
                        **context: Any) -> Message:
    """Render the letter in the case's language and store it: by e-mail after the commit (to whoever is
    answered, unless `to` names the address a code must go to; a letter about the case to someone else,
    e.g. the controller receiving a portability bundle, has `direction` TO_RECIPIENT), or, with no e-mail
    to answer to, as a letter to print and post."""
    context = {**subject_letter_context(request), **context}
    address = to or request.contact_email
    if address is None:
        if secret is not None:
            raise ValueError("a one-time code or password never goes by post")
        return queue_post_letter(session, to=request.contact_postal_address, template=template,
                                 language=request.language, context=context, request_id=request.id,
                                 author_id=author_id, dedupe_key=dedupe_key)
    return queue_email(session, to=address, template=template, language=request.language, context=context,
                       request_id=request.id, author_id=author_id, dedupe_key=dedupe_key, secret=secret,
                       direction=direction)
