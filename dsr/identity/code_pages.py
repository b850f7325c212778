"""What the subject's code pages share: load a request by public id, abuse limits, sending a code,
checking the code a browser posted, and the messages for a wrong one."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import orm
from werkzeug.exceptions import TooManyRequests

from dsr import ratelimit
from dsr.db import get_session
from dsr.forms import CodeForm
from dsr.identity import codes
from dsr.identity.codes import CodeLimitReached, CodeOutcome, CodeResult
from dsr.identity.subject_access import browser_binding
from dsr.models import (
    ChallengeChannel,
    ChallengePurpose,
    DeliveryStatus,
    Message,
    SubjectRequest,
    VerificationChallenge,
)


def first_refusal(*checks: tuple[str, str]) -> ratelimit.Decision | None:
    """Count an attempt against each (limit, key) in turn; the first refusal, or None when all allow it."""
    for name, key in checks:
        decision = ratelimit.hit(name, key)
        if not decision.allowed:
            return decision
    return None


def enforce_limits(*checks: tuple[str, str]) -> None:
    refused = first_refusal(*checks)
    if refused is not None:
        raise TooManyRequests(retry_after=refused.retry_after)


def client_ip() -> str:
    return request.remote_addr or "-"


def code_error_message(result: CodeResult) -> str:
    if result.outcome is CodeOutcome.WRONG:
        return ngettext(
            "That code is not right. You can try %(num)d more time. If you opened the e-mail on "
            "another device, use the link in it instead.",
            "That code is not right. You can try %(num)d more times. If you opened the e-mail on "
            "another device, use the link in it instead.",
            result.attempts_left,
        )
    if result.outcome is CodeOutcome.EXPIRED:
        return _("That code has expired. Ask for a new code below.")
    if result.outcome is CodeOutcome.BURNED:
        return _(
            "That code can no longer be used (too many tries, or a newer code was sent). Ask for a new "
            "code below."
        )
    return _("There is no code waiting for this request. Ask for a new code below.")


def delivery_failed(challenge: VerificationChallenge | None) -> bool:
    if challenge is None or challenge.message_id is None:
        return False
    message = get_session().get(Message, challenge.message_id)
    return message is not None and message.status is DeliveryStatus.FAILED


def send_code(case: SubjectRequest, purpose: ChallengePurpose, *, channel: ChallengeChannel = ChallengeChannel.EMAIL,
              destination: str | None = None, context: dict | None = None) -> CodeLimitReached | None:
    """A new code for this browser (to the request's e-mail unless `destination` is given), within the
    resend limits, committed with the mail or SMS that carries it. Returns the refusal, with nothing
    stored, when the request already had as many codes as allowed."""
    if destination is None and case.contact_email is None:
        abort(404)  # answered by post: its pages take no codes (its letters carry no links to them)
    enforce_limits(("resend_ip", client_ip()), ("resend_address", case.contact_email or case.reference))
    db = get_session()
    try:
        codes.issue_code(db, case, purpose, channel, destination or case.contact_email, browser_binding(),
                         context=context)
    except CodeLimitReached as exc:
        db.rollback()
        return exc
    db.commit()
    return None


def check_code_or_rerender(case: SubjectRequest, purpose: ChallengePurpose,
                           rerender: Callable[[CodeForm, int], ResponseReturnValue],
                           on_success: Callable[[orm.Session], None] | None = None) -> ResponseReturnValue | None:
    """Check the code this browser posted for `purpose`, within the abuse limits. Right: `on_success`
    runs in the same transaction, which commits, and the result is None (the caller goes on). Wrong,
    expired or malformed: the attempt is committed (it counts) and the page is shown again with why."""
    form = CodeForm()
    if not form.validate():
        return rerender(form, 400)
    enforce_limits(("code_entry_ip", client_ip()), ("code_entry_address", case.contact_email or case.reference))
    db = get_session()
    result = codes.check_code(db, case, purpose, form.code.data, browser_binding())
    if result.ok and on_success is not None:
        on_success(db)
    db.commit()
    if not result.ok:
        form.code.errors = [code_error_message(result)]
        return rerender(form, 400)
    return None
