"""Form building blocks the subject's pages share: fields checked by dsr.validation's functions, the
code form, the reply form and the confirm button (only the CSRF token)."""

from __future__ import annotations

import re
from typing import ClassVar

from babel import support
from flask import current_app, has_request_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.i18n import messages_path

from dsr.validation import InvalidValue, free_text

_CODE = re.compile(r"^\d{6}$")


class Required:
    """Marks a field as required for the form macros (the check itself is in the form's validate)."""

    field_flags: ClassVar[dict] = {"required": True}

    def __call__(self, form, field) -> None:
        return None


def _add_error(field, message: str) -> None:
    field.errors = [*field.errors, message]


#: WTForms' own catalogue ("Not a valid choice.", ...) by language, read once per process
_WTFORMS_CATALOGUES: dict[str, support.NullTranslations] = {}


class PortalForm(FlaskForm):
    """Every form of the portal. WTForms' own messages come in the page's language from a catalogue read
    once per language: Flask-WTF reads it from disk again for every request that builds a form."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True) or not has_request_context():
                return super().get_translations(form)
            language = str(get_locale() or "en")
            catalogue = _WTFORMS_CATALOGUES.get(language)
            if catalogue is None:
                catalogue = _WTFORMS_CATALOGUES[language] = support.Translations.load(
                    messages_path(), [language], domain="wtforms")
            return catalogue


class CheckedForm(PortalForm):
    """A form whose fields are checked by `checks()`: {field name: function(data) -> cleaned}."""

    def checks(self) -> dict:
        return {}

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        for name, check in self.checks().items():
            field = self[name]
            try:
                field.data = check(field.data)
            except InvalidValue as exc:
                _add_error(field, exc.message)
                ok = False
        return ok


class CodeForm(CheckedForm):
    code = StringField(_l("Code"), validators=[Required()])

    def checks(self) -> dict:
        def check(value):
            digits = re.sub(r"[\s\-]", "", value or "")
            if not digits:
                raise InvalidValue(str(_l("Enter the code")))
            if not _CODE.match(digits):
                raise InvalidValue(str(_l("Enter the code as 6 digits, like 123456")))
            return digits

        return {"code": check}


class ReplyForm(CheckedForm):
    message = TextAreaField(_l("Your message"), validators=[Required()])

    def checks(self) -> dict:
        return {"message": lambda value: free_text(value, required_message=str(_l("Write your message")))}


class ConfirmForm(PortalForm):
    """A button that changes something: only the CSRF token."""
