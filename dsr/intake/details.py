"""What each right asks, and nothing more: the questions of each form and the `details` keys.

The forms are built from these questions and `submit_request` checks `details` against them, so
a request registered by staff obeys the same rules as one filed on the web.

Keys stored in SubjectRequest.details:
- rectification: `wrong`, `correct`
- objection: `processing` ("direct_marketing" = dsr.cases.opening.DIRECT_MARKETING, or "other"),
  and for "other" also `processing_text` (which use) and `reason` (the subject's situation)
- withdraw_consent: `consent` (a declared consent's key, or "other" with `consent_text`; free text where
  no system declares a consent)
- portability: `receiving_service` (optional)
- restriction: `ground` (one of RESTRICTION_GROUNDS), `explanation` (optional)
- access, erasure: nothing, unless a connected system needs an identifier besides the e-mail: then
  `ga_client_id` (optional; a Google Analytics system's only key to a visitor, from the _ga cookie)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from dsr.cases.opening import DIRECT_MARKETING, OTHER_CONSENT
from dsr.connectors.ga4 import IDENTIFIER, client_id
from dsr.connectors.registry import get_systems
from dsr.models import Right
from dsr.validation import InvalidValue, free_text, single_line

OTHER_PROCESSING = "other"
RESTRICTION_GROUNDS = ("accuracy", "unlawful", "legal_claims", "objection_pending")


@dataclass(frozen=True)
class Question:
    name: str
    label: Any  # lazy text
    kind: str  # "line" (one line), "text" (several lines) or "choice" (radios)
    hint: Any = None
    required: bool = True
    choices: tuple[tuple[str, Any], ...] = ()
    #: (other question, answer): asked only when that answer was given (otherwise ignored)
    only_if: tuple[str, str] | None = None
    required_message: Any = None
    #: the answer in its stored form, or None when it is not a valid answer (then `invalid_message`)
    normalise: Callable[[str], str | None] | None = None
    invalid_message: Any = None


QUESTIONS: dict[Right, tuple[Question, ...]] = {
    Right.ACCESS: (),
    Right.ERASURE: (),
    Right.RECTIFICATION: (
        Question(
            "wrong",
            _l("What is wrong or missing?"),
            "text",
            hint=_l("For example: my address is wrong, or my new surname is missing."),
            required_message=_l("Tell us what is wrong or missing"),
        ),
        Question(
            "correct",
            _l("What should it say instead?"),
            "text",
            hint=_l("Write the correct information as you want us to hold it."),
            required_message=_l("Tell us what it should say instead"),
        ),
    ),
    Right.OBJECTION: (
        Question(
            "processing",
            _l("What do you object to?"),
            "choice",
            choices=(
                (DIRECT_MARKETING, _l("Direct marketing (offers and newsletters). We stop at once.")),
                (OTHER_PROCESSING, _l("Another use of my data")),
            ),
            required_message=_l("Choose what you object to"),
        ),
        Question(
            "processing_text",
            _l("If another use: which use of your data do you object to?"),
            "text",
            hint=_l("For example: that you use my purchase history to tailor your website."),
            only_if=("processing", OTHER_PROCESSING),
            required_message=_l("Tell us which use of your data you object to"),
        ),
        Question(
            "reason",
            _l("If another use: why do you object?"),
            "text",
            hint=_l(
                "Tell us about your own situation. We stop unless we have compelling legitimate grounds "
                "that override your interests, or need the data for a legal claim."
            ),
            only_if=("processing", OTHER_PROCESSING),
            required_message=_l("Tell us why you object"),
        ),
    ),
    Right.WITHDRAW_CONSENT: (
        Question(
            "consent",
            _l("Which consent do you want to withdraw?"),
            "line",
            hint=_l("For example: the newsletter, or text messages about offers."),
            required_message=_l("Tell us which consent you want to withdraw"),
        ),
    ),  # replaced by a choice among the declared consents where there are any (questions_for)
    Right.PORTABILITY: (
        Question(
            "receiving_service",
            _l("Should we send the data straight to another service?"),
            "line",
            hint=_l("If so, write the name of the service. Leave it empty to get the file yourself."),
            required=False,
        ),
    ),
    Right.RESTRICTION: (
        Question(
            "ground",
            _l("Why should we limit how we use your data?"),
            "choice",
            choices=(
                ("accuracy", _l("I think the data is wrong, and you should not use it while you check")),
                ("unlawful", _l("I think you use it unlawfully, but I do not want it deleted")),
                ("legal_claims", _l("You no longer need it, but I need it kept for a legal claim")),
                ("objection_pending", _l("I have objected, and you should not use it while you decide")),
            ),
            required_message=_l("Choose why we should limit how we use your data"),
        ),
        Question("explanation", _l("Anything else we should know?"), "text", required=False),
    ),
}


#: questions for identifiers a connected system needs (Connector.identifiers_asked), asked with these rights
IDENTIFIER_QUESTIONS: dict[str, Question] = {
    IDENTIFIER: Question(
        IDENTIFIER,
        _l("Your Google Analytics client ID (optional)"),
        "line",
        hint=_l(
            "Only if you want us to find what Google Analytics recorded about your visits: it knows you by "
            "this code, not by name. In your browser's settings, open the cookies of our website and find the "
            "one named _ga. Its value looks like GA1.1.1234567890.1700000000: copy it here."
        ),
        required=False,
        normalise=client_id,
        invalid_message=_l("Enter the value of the _ga cookie, like GA1.1.1234567890.1700000000"),
    ),
}
IDENTIFIER_RIGHTS = (Right.ACCESS, Right.ERASURE)


def identifier_questions(right: Right) -> tuple[Question, ...]:
    """The identifier questions of the systems declared now, for the rights that use them."""
    if right not in IDENTIFIER_RIGHTS:
        return ()
    asked = {name for system in get_systems(current_app).values() for name in system.connector.identifiers_asked()}
    return tuple(question for name, question in IDENTIFIER_QUESTIONS.items() if name in asked)


def declared_consents() -> list[tuple[str, Any]]:
    """(key, name in the page's language) of every processing a system declares as resting on consent."""
    language = str(get_locale() or "en")
    found: dict[str, Any] = {}
    for system in get_systems(current_app).values():
        for processing in system.connector.processing():
            if "consent" in processing.bases and processing.key not in found:
                found[processing.key] = processing.name_nb if language == "nb" and processing.name_nb \
                    else processing.name
    return list(found.items())


def questions_for(right: Right) -> tuple[Question, ...]:
    """The questions of a right's form. Withdrawing consent offers the consents the systems declare
    (they stop at once, with no staff step), or another one described in words (staff handle it)."""
    consents = declared_consents() if right is Right.WITHDRAW_CONSENT else []
    if not consents:
        return QUESTIONS[right] + identifier_questions(right)
    return (
        Question("consent", _l("Which consent do you want to withdraw?"), "choice",
                 choices=(*consents, (OTHER_CONSENT, _l("Another consent"))),
                 required_message=_l("Choose which consent you want to withdraw")),
        Question("consent_text", _l("If another: which consent?"), "line",
                 hint=_l("For example: text messages about offers."), only_if=("consent", OTHER_CONSENT),
                 required_message=_l("Tell us which consent you want to withdraw")),
    )


class InvalidDetails(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def is_asked(question: Question, answers: Mapping[str, Any]) -> bool:
    return question.only_if is None or answers.get(question.only_if[0]) == question.only_if[1]


def clean_answer(question: Question, value: Any, answers: Mapping[str, Any]) -> str | None:
    """The normalised answer to one question, None when not given; raises InvalidValue."""
    if value is not None and not isinstance(value, str):
        raise InvalidValue(str(question.required_message or _l("This answer is not valid")))
    required = question.required and is_asked(question, answers)
    message = str(question.required_message) if required and question.required_message else None
    if required and not message:
        message = str(_l("Answer this question"))
    if not is_asked(question, answers):
        return None
    if question.kind == "choice":
        if not value:
            if required:
                raise InvalidValue(message)
            return None
        if value not in {key for key, _label in question.choices}:
            raise InvalidValue(message or str(_l("Choose one of the options")))
        return value
    if question.kind == "line":
        value = single_line(value, required_message=message)
    else:
        value = free_text(value, required_message=message)
    if value and question.normalise is not None:
        normalised = question.normalise(value)
        if normalised is None:
            raise InvalidValue(str(question.invalid_message))
        return normalised
    return value


def clean_details(right: Right, answers: Mapping[str, Any] | None) -> dict[str, str]:
    """Only the questions of `right`, normalised; raises InvalidDetails naming each bad answer."""
    answers = answers or {}
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for question in questions_for(right):
        try:
            value = clean_answer(question, answers.get(question.name), answers)
        except InvalidValue as exc:
            errors[question.name] = exc.message
            continue
        if value is not None:
            cleaned[question.name] = value
    if errors:
        raise InvalidDetails(errors)
    return cleaned
