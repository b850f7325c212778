"""Staff case forms, in the staff member's language (lazy texts: the language is chosen per request)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from dsr.cases.conversation import REPLY_CHANNELS
from dsr.cases.decisions import MAX_TEXT, REJECTION_LABELS
from dsr.cases.labels import RIGHT_LABELS
from dsr.cases.opening import IDENTITY_METHODS
from dsr.forms import PortalForm
from dsr.models import Right

_TEXT = Length(max=MAX_TEXT, message=_l("Write at most %(num)d characters.", num=MAX_TEXT))


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


RIGHT_CHOICES = choices((r.value, RIGHT_LABELS[r]) for r in Right)


class RejectForm(PortalForm):
    reason = RadioField(
        _l("Reason for refusing"),
        choices=choices((k.value, v) for k, v in REJECTION_LABELS.items()),
        validators=[DataRequired(_l("Choose the reason for refusing."))],
    )
    law = StringField(_l("Law and provision (for an exemption)"), [Length(max=200)])
    text = TextAreaField(
        _l("Explanation to the subject"), [DataRequired(_l("Write the explanation to the subject.")), _TEXT]
    )


class AskForm(PortalForm):
    text = TextAreaField(_l("What do you need from the subject?"), [DataRequired(_l("Write the question.")), _TEXT])
    about_identity = BooleanField(
        _l("This is about confirming who the subject is (the deadline clock pauses until they answer)")
    )


def extension_choices(options: dict) -> list[SelectChoice]:
    """Months of extension -> its label with the deadline it gives."""
    words = {1: _l("One further month"), 2: _l("Two further months")}
    return choices((months, _("%(months)s: the new deadline is %(date)s", months=words[months], date=due_on.isoformat()))
                   for months, due_on in options.items())


class ExtendForm(PortalForm):
    # Labels carry the dates each choice gives (set by the view for the case at hand).
    months = RadioField(_l("Extend by"), choices=choices([(2, _l("Two further months")), (1, _l("One further month"))]), coerce=int,
                        default=2, validators=[DataRequired(_l("Choose how long the extension is."))])
    reason = TextAreaField(
        _l("Reason for the extension (sent to the subject)"),
        [DataRequired(_l("Write the reason for the extension.")), _TEXT],
    )


class AssignForm(PortalForm):
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=True)


class OutcomeForm(PortalForm):
    outcome = TextAreaField(_l("Outcome letter to the subject"), [DataRequired(_l("Write what was done.")), _TEXT])


class TextForm(PortalForm):
    text = TextAreaField(_l("Text"), [DataRequired(_l("Write something first.")), _TEXT])


class ReplyForm(PortalForm):
    channel = RadioField(
        _l("How did the answer reach us?"),
        choices=choices(REPLY_CHANNELS.items()),
        validators=[DataRequired(_l("Choose how the answer reached us."))],
    )
    text = TextAreaField(_l("What the subject said"), [DataRequired(_l("Write what the subject said.")), _TEXT])


class IdentityForm(PortalForm):
    how = RadioField(
        _l("How was identity established?"),
        choices=choices(IDENTITY_METHODS.items()),
        validators=[DataRequired(_l("Choose how identity was established."))],
    )


