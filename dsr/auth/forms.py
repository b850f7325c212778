"""Staff login and account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from dsr.forms import PortalForm
from dsr.models import StaffRole

ROLE_LABELS = {StaffRole.ADMIN: _l("Admin"), StaffRole.OFFICER: _l("Officer"), StaffRole.VIEWER: _l("Viewer")}

_CODE = [
    DataRequired(_l("Enter the 6-digit code from your authenticator app.")),
    Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6 digits shown in your authenticator app.")),
]
_NEW_PASSWORD = [DataRequired(_l("Choose a new password."))]


def _role_choices() -> list[SelectChoice]:
    return [SelectChoice(role.value, ROLE_LABELS[role]) for role in StaffRole]


class LoginForm(PortalForm):
    email = StringField(_l("E-mail address"), [DataRequired(_l("Enter your e-mail address.")), Length(max=254)])
    password = PasswordField(_l("Password"), [DataRequired(_l("Enter your password.")), Length(max=1024)])
    next = HiddenField()


class CodeForm(PortalForm):
    code = StringField(_l("6-digit code"), _CODE)


class NewPasswordForm(PortalForm):
    password = PasswordField(_l("New password"), _NEW_PASSWORD)
    confirm = PasswordField(
        _l("New password again"),
        [
            DataRequired(_l("Type the new password again.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(_l("Current password"), [DataRequired(_l("Enter your current password."))])


class ReauthForm(PortalForm):
    password = PasswordField(_l("Password"), [DataRequired(_l("Enter your password."))])
    code = StringField(_l("6-digit code"), _CODE)
    next = HiddenField()


class LanguageForm(PortalForm):
    language = SelectField(_l("Language of the staff pages"))


class NewStaffForm(PortalForm):
    email = StringField(
        _l("E-mail address"), [DataRequired(_l("Enter the new staff member's e-mail address.")), Length(max=254)]
    )
    display_name = StringField(_l("Name"), [Length(max=120)])
    role = SelectField(_l("Role"), choices=_role_choices(), default=StaffRole.OFFICER.value)


class RoleForm(PortalForm):
    role = SelectField(_l("Role"), choices=_role_choices())
