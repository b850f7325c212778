"""What goes into a bundle besides the data: each system's part (its collections, its upload, its
Art. 15(1) facts, whether anything was found), the subject's request history and their rights."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.bundle import content
from dsr.connectors.registry import get_systems
from dsr.export import storage
from dsr.models import Message, MessageDirection, SubjectRequest
from dsr.notify.service import shown_text
from dsr.tasks.states import FINISHED


def system_name(system, language: str) -> str:
    """A declared system's name as the subject reads it (its `name_nb` in a Norwegian case)."""
    return (system.connector.settings.get("name_nb") if language == "nb" else None) or system.name


def system_parts(tasks, request, language, app) -> list[content.SystemPart]:
    systems = get_systems(app)
    parts = []
    for task in tasks:
        system = systems.get(task.system_key)
        if system is None:
            continue
        result = task.result or {}
        collections = [content.CollectionPart(name, info["records"], info["fields"], info)
                       for name, info in (result.get("collections") or {}).items() if info["records"]]
        upload = None
        if result.get("upload"):
            upload = {**result["upload"], "key": storage.upload_key(request.id, task.id)}
        records = sum(c.records for c in collections) + (1 if upload else 0)
        if task.state not in FINISHED:
            status = "not_collected"
        else:
            status = "collected" if records else "nothing_found"
        spool_dir = f"{storage.request_spool(request.id)}/{result['spool']}" if result.get("spool") else None
        parts.append(content.SystemPart(key=task.system_key, name=system_name(system, language),
                                        kind=system.connector.kind,
                                        status=status, facts=content.facts_for(system, language),
                                        spool_dir=spool_dir, collections=collections, upload=upload,
                                        records=records))
    return parts


def request_history(session: orm.Session, request: SubjectRequest) -> list[dict]:
    """The subject's own requests (same verified address; this one alone for someone without e-mail), with
    what was said to and by them. The request this bundle answers is marked `answered_by_this_file`: it
    is still open while the bundle is written, but the subject reads the bundle as its answer."""
    same_subject = (sa.func.lower(SubjectRequest.email) == request.email.lower() if request.email
                    else SubjectRequest.id == request.id)
    requests = session.scalars(sa.select(SubjectRequest).where(same_subject).order_by(SubjectRequest.id)).all()
    by_request: dict[int, list[Message]] = {item.id: [] for item in requests}
    for message in session.scalars(sa.select(Message).where(
            Message.request_id.in_(list(by_request)),
            Message.direction.in_([MessageDirection.TO_SUBJECT, MessageDirection.FROM_SUBJECT]))
            .order_by(Message.id)):
        by_request[message.request_id].append(message)
    history = []
    for item in requests:
        messages = by_request[item.id]
        history.append({
            "reference": item.reference, "right": item.right.value, "status": item.status.value,
            "answered_by_this_file": item.id == request.id,
            "channel": item.channel.value, "received_at": item.received_at, "verified_at": item.verified_at,
            "identity_method": item.identity_method, "due_on": item.due_on, "extended_due_on": item.extended_due_on,
            "extension_reason": item.extension_reason, "decided_at": item.decided_at,
            "rejection_code": item.rejection_code, "rejection_text": item.rejection_text, "closed_at": item.closed_at,
            "details": item.details or {},
            "messages": [{"direction": m.direction.value, "channel": m.channel.value, "subject": m.subject_line,
                          "text": shown_text(m.body_text), "created_at": m.created_at, "sent_at": m.sent_at} for m in messages],
        })
    return history


def rights_text(language: str) -> dict[str, str]:
    """Art. 15(1)(e)-(f): the rights the subject has about this data, in their language."""
    authority = current_app.extensions["dsr.controller"].in_language(language).authority
    with force_locale(language):
        return {
            "rectification": _("You can ask us to correct data about you that is wrong, or to complete it "
                               "(Art. 16)."),
            "erasure": _("You can ask us to delete your data; we tell you what the law makes us keep, why and "
                         "until when (Art. 17)."),
            "restriction": _("You can ask us to limit our use of your data, for example while we check that it "
                             "is correct (Art. 18)."),
            "objection": _("You can object to our use of your data based on legitimate interests, and to direct "
                           "marketing at any time (Art. 21)."),
            "portability": _("You can receive the data you gave us in a machine-readable file (Art. 20)."),
            "complaint": _("You can complain to %(authority)s, %(address)s, if you think we handle your data "
                           "unlawfully (Art. 77).", authority=authority.name, address=authority.address),
        }
