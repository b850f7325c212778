"""The request forms. Each right's form is built from its questions (dsr.intake.details) plus the
contact details; every check is one of dsr.validation's, so the form and the service agree.
"""

from __future__ import annotations

import re
from functools import cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, RadioField, SelectChoice, StringField, TelField, TextAreaField

from dsr.forms import CheckedForm, Required
from dsr.intake.details import Question, clean_answer, questions_for
from dsr.models import Right
from dsr.rights_text import RIGHT_TITLES
from dsr.validation import InvalidValue, normalise_email, normalise_phone, single_line

_INTAKE_KEY = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class ChooseRightForm(CheckedForm):
    right = RadioField(
        _l("What do you want to do?"),
        choices=[SelectChoice(r.value, RIGHT_TITLES[r]) for r in Right],
        validate_choice=False,
        validators=[Required()],
    )

    def checks(self) -> dict:
        def check(value):
            if value not in {r.value for r in Right}:
                raise InvalidValue(str(_l("Choose what you want to do")))
            return value

        return {"right": check}


class RequestForm(CheckedForm):
    """Base of the per-right forms: questions first, then how we reach the subject."""

    right: Right
    questions: tuple[Question, ...] = ()

    def checks(self) -> dict:
        answers = {q.name: self[q.name].data for q in self.questions}
        checks = {q.name: (lambda value, q=q: clean_answer(q, value, answers)) for q in self.questions}
        deliverability = bool(current_app.config["EMAIL_CHECK_DELIVERABILITY"])
        checks.update(
            email=lambda value: normalise_email(value, check_deliverability=deliverability),
            full_name=lambda value: single_line(value, max_length=200),
            phone=normalise_phone,
        )
        return checks

    def details(self) -> dict[str, str]:
        return {q.name: self[q.name].data for q in self.questions if self[q.name].data}

    def answer_fields(self):
        """Every answer as a field, in page order (for check-your-answers and its hidden copy)."""
        return [self[q.name] for q in self.questions] + [self.full_name, self.email, self.phone]


def _question_field(question: Question):
    validators = [Required()] if question.required else []
    if question.kind == "choice":
        return RadioField(
            question.label,
            choices=[SelectChoice(value, label) for value, label in question.choices],
            validate_choice=False,
            validators=validators,
        )
    if question.kind == "line":
        return StringField(question.label, validators=validators)
    return TextAreaField(question.label, validators=validators)


def request_form_class(right: Right) -> type[RequestForm]:
    return _form_class(right, questions_for(right))


@cache
def _form_class(right: Right, questions: tuple[Question, ...]) -> type[RequestForm]:
    fields: dict = {"right": right, "questions": questions}
    for question in questions:
        fields[question.name] = _question_field(question)
    # Created after the questions so the error summary lists fields in page order.
    fields["full_name"] = StringField(_l("Your full name"))
    fields["email"] = EmailField(_l("E-mail address"), validators=[Required()])
    fields["phone"] = TelField(_l("Phone number"))
    return type(f"{right.name.title().replace('_', '')}Form", (RequestForm,), fields)


class SendForm(FlaskForm):
    """The idempotency key of the check-your-answers page (the answers come as hidden fields)."""

    intake_key = HiddenField()

    def valid_key(self) -> str | None:
        key = self.intake_key.data or ""
        return key if _INTAKE_KEY.match(key) else None
