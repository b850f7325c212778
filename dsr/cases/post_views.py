"""Letters by post on the staff case page: the printable letter (A4, the controller's letterhead, in the
case's language) and "sent by post" once staff posted it. Routes on the case area's blueprint."""
from __future__ import annotations

from flask import abort, g, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup

from dsr.auth.roles import staff_decider
from dsr.cases.decisions import DecisionError
from dsr.cases.pages import bp, case_or_404, controller, decide
from dsr.db import get_session
from dsr.notify.post import PostError, post_letter_of, printed_letter, record_posted


@bp.get("/cases/<int:case_id>/letters/<int:message_id>/print")
@staff_decider
def print_letter(case_id: int, message_id: int):
    case = case_or_404(case_id)
    message = post_letter_of(get_session(), case, message_id)
    if message is None:
        abort(404)
    letter = printed_letter(case, message, controller())
    # The sheet is in the case's language, whatever language the staff pages around it speak.
    with force_locale(letter.language):
        sheet = Markup(render_template("cases/_letter_sheet.html", letter=letter))
    page = render_template("cases/letter_print.html", case=case, message=message, sheet=sheet)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/cases/<int:case_id>/letters/<int:message_id>/posted")
@staff_decider
def letter_posted(case_id: int, message_id: int):
    case = case_or_404(case_id)
    message = post_letter_of(get_session(), case, message_id)
    if message is None:
        abort(404)

    def run():
        try:
            return record_posted(get_session(), message, actor_id=g.staff.id)
        except PostError as exc:
            raise DecisionError(str(exc)) from None

    return decide(case, run, _("Recorded as sent by post."))
