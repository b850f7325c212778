"""Staff case forms (English: staff pages are not translated)."""

from __future__ import annotations

from flask_wtf import FlaskForm
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
from dsr.cases.opening import IDENTITY_METHODS
from dsr.models import Right

_TEXT = Length(max=MAX_TEXT, message=f"Write at most {MAX_TEXT} characters.")


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


RIGHT_CHOICES = choices((r.value, r.value.replace("_", " ").capitalize()) for r in Right)


class RejectForm(FlaskForm):
    reason = RadioField(
        "Reason for refusing",
        choices=choices((k.value, v) for k, v in REJECTION_LABELS.items()),
        validators=[DataRequired("Choose the reason for refusing.")],
    )
    law = StringField("Law and provision (for an exemption)", [Length(max=200)])
    text = TextAreaField(
        "Explanation to the subject", [DataRequired("Write the explanation to the subject."), _TEXT]
    )


class AskForm(FlaskForm):
    text = TextAreaField("What do you need from the subject?", [DataRequired("Write the question."), _TEXT])
    about_identity = BooleanField(
        "This is about confirming who the subject is (the deadline clock pauses until they answer)"
    )


def extension_choices(options: dict) -> list[SelectChoice]:
    """Months of extension -> its label with the deadline it gives."""
    words = {1: "One further month", 2: "Two further months"}
    return choices((months, f"{words[months]}: the new deadline is {due_on}") for months, due_on in options.items())


class ExtendForm(FlaskForm):
    # Labels carry the dates each choice gives (set by the view for the case at hand).
    months = RadioField("Extend by", choices=choices([(2, "Two further months"), (1, "One further month")]), coerce=int,
                        default=2, validators=[DataRequired("Choose how long the extension is.")])
    reason = TextAreaField(
        "Reason for the extension (sent to the subject)",
        [DataRequired("Write the reason for the extension."), _TEXT],
    )


class AssignForm(FlaskForm):
    assignee = SelectField("Assignee", choices=[], validate_choice=True)


class OutcomeForm(FlaskForm):
    outcome = TextAreaField("Outcome letter to the subject", [DataRequired("Write what was done."), _TEXT])


class TextForm(FlaskForm):
    text = TextAreaField("Text", [DataRequired("Write something first."), _TEXT])


class ReplyForm(FlaskForm):
    channel = RadioField(
        "How did the answer reach us?",
        choices=choices(REPLY_CHANNELS.items()),
        validators=[DataRequired("Choose how the answer reached us.")],
    )
    text = TextAreaField("What the subject said", [DataRequired("Write what the subject said."), _TEXT])


class IdentityForm(FlaskForm):
    how = RadioField(
        "How was identity established?",
        choices=choices(IDENTITY_METHODS.items()),
        validators=[DataRequired("Choose how identity was established.")],
    )


