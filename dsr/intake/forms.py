"""The request forms. Each right's form is built from its questions (dsr.intake.details) plus the
contact details; every check is one of dsr.validation's, so the form and the service agree.
"""

from __future__ import annotations

import re
from functools import cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, HiddenField, RadioField, SelectChoice, StringField, TelField, TextAreaField

from dsr.forms import CheckedForm, PortalForm, Required
from dsr.intake.details import Question, clean_answer, questions_for
from dsr.models import Relationship, Right
from dsr.representation.forms import RELATIONSHIP_CHOICES
from dsr.rights_text import RIGHT_TITLES
from dsr.validation import InvalidValue, normalise_email, normalise_phone, single_line

_INTAKE_KEY = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


FOR_ME, FOR_SOMEONE_ELSE = "me", "someone_else"


class ChooseRightForm(CheckedForm):
    for_whom = RadioField(
        _l("Who is the request for?"),
        choices=[SelectChoice(FOR_ME, _l("Me")),
                 SelectChoice(FOR_SOMEONE_ELSE, _l("Someone else, who I act for (for example as their parent, "
                                                   "guardian, lawyer or employer)"))],
        default=FOR_ME,
        validate_choice=False,
    )
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

        def check_whom(value):
            if value not in (FOR_ME, FOR_SOMEONE_ELSE):
                raise InvalidValue(str(_l("Choose who the request is for")))
            return value

        return {"for_whom": check_whom, "right": check}


def checked_email(value: str | None) -> str:
    return normalise_email(value, check_deliverability=bool(current_app.config["EMAIL_CHECK_DELIVERABILITY"]))


class RequestForm(CheckedForm):
    """Base of the per-right forms: questions first, then how we reach the subject."""

    right: Right
    questions: tuple[Question, ...] = ()

    def checks(self) -> dict:
        answers = {q.name: self[q.name].data for q in self.questions}
        checks = {q.name: (lambda value, q=q: clean_answer(q, value, answers)) for q in self.questions}
        checks.update(email=checked_email, full_name=lambda value: single_line(value, max_length=200),
                      phone=normalise_phone)
        return checks

    def details(self) -> dict[str, str]:
        return {q.name: self[q.name].data for q in self.questions if self[q.name].data}

    def answer_fields(self):
        """Every answer as a field, in page order (for check-your-answers and its hidden copy)."""
        return [self[q.name] for q in self.questions] + [self.full_name, self.email, self.phone]


class RepresentedRequestForm(RequestForm):
    """Someone files for another person: the questions, then who the request is about (as the
    representative knows them), then the representative. The authorisation comes on the check page."""

    def checks(self) -> dict:
        checks = super().checks()
        checks.update(
            full_name=lambda value: single_line(value, max_length=200,
                                                required_message=str(_l("Enter the name of the person the "
                                                                        "request is for"))),
            email=lambda value: checked_email(value) if (value or "").strip() else None,
            rep_name=lambda value: single_line(value, max_length=200,
                                               required_message=str(_l("Enter your full name"))),
            rep_email=checked_email,
            relationship=check_relationship,
            relationship_note=lambda value: single_line(value, max_length=200),
        )
        return checks

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not self.email.data and not self.phone.data:
            self.email.errors = [str(_l("Enter their e-mail address or phone number, as we may have it"))]
            return False
        return ok

    def answer_fields(self):
        return [self[q.name] for q in self.questions] + [self.full_name, self.email, self.phone, self.rep_name,
                                                         self.rep_email, self.relationship, self.relationship_note]


def check_relationship(value: str | None) -> str:
    if value not in {r.value for r in Relationship}:
        raise InvalidValue(str(_l("Choose how you stand to the person the request is for")))
    return value


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
    return _form_class(right, questions_for(right), represented=False)


def represented_form_class(right: Right) -> type[RepresentedRequestForm]:
    return _form_class(right, questions_for(right), represented=True)


def _own_contact_fields() -> dict:
    return {"full_name": StringField(_l("Your full name")),
            "email": EmailField(_l("E-mail address"), validators=[Required()]),
            "phone": TelField(_l("Phone number"))}


def _represented_contact_fields() -> dict:
    """The subject as the representative knows them, then the representative."""
    return {"full_name": StringField(_l("Their full name"), validators=[Required()]),
            "email": EmailField(_l("Their e-mail address")),
            "phone": TelField(_l("Their phone number")),
            "rep_name": StringField(_l("Your own full name"), validators=[Required()]),
            "rep_email": EmailField(_l("Your e-mail address"), validators=[Required()]),
            "relationship": RadioField(_l("You act for them as"), choices=RELATIONSHIP_CHOICES,
                                       validate_choice=False, validators=[Required()]),
            "relationship_note": StringField(_l("Anything we should know about it"))}


@cache
def _form_class(right: Right, questions: tuple[Question, ...], *, represented: bool) -> type[RequestForm]:
    fields: dict = {"right": right, "questions": questions}
    for question in questions:
        fields[question.name] = _question_field(question)
    # Created after the questions so the error summary lists fields in page order.
    fields.update(_represented_contact_fields() if represented else _own_contact_fields())
    base, suffix = (RepresentedRequestForm, "ForSomeoneElseForm") if represented else (RequestForm, "Form")
    return type(f"{right.name.title().replace('_', '')}{suffix}", (base,), fields)


class AuthorisationForm(PortalForm):
    """The check page of a request filed for someone else: the authorisation goes with "Send"."""

    authorisation = FileField(_l("Your authorisation to act for them"),
                              validators=[FileRequired(_l("Choose the file with your authorisation"))])


class SendForm(PortalForm):
    """The idempotency key of the check-your-answers page (the answers come as hidden fields)."""

    intake_key = HiddenField()

    def valid_key(self) -> str | None:
        key = self.intake_key.data or ""
        return key if _INTAKE_KEY.match(key) else None
