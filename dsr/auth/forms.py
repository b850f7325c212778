"""Staff login and account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from dsr.models import StaffRole

_CODE = [
    DataRequired("Enter the 6-digit code from your authenticator app."),
    Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="Enter the 6 digits shown in your authenticator app."),
]
_NEW_PASSWORD = [DataRequired("Choose a new password.")]


class LoginForm(FlaskForm):
    email = StringField("E-mail address", [DataRequired("Enter your e-mail address."), Length(max=254)])
    password = PasswordField("Password", [DataRequired("Enter your password."), Length(max=1024)])
    next = HiddenField()


class CodeForm(FlaskForm):
    code = StringField("6-digit code", _CODE)


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", _NEW_PASSWORD)
    confirm = PasswordField(
        "New password again",
        [
            DataRequired("Type the new password again."),
            EqualTo("password", "The two passwords are not the same."),
        ],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", [DataRequired("Enter your current password.")])


class ReauthForm(FlaskForm):
    password = PasswordField("Password", [DataRequired("Enter your password.")])
    code = StringField("6-digit code", _CODE)
    next = HiddenField()


class LanguageForm(FlaskForm):
    language = SelectField(_l("Language of the staff pages"))


class NewStaffForm(FlaskForm):
    email = StringField(
        "E-mail address", [DataRequired("Enter the new staff member's e-mail address."), Length(max=254)]
    )
    display_name = StringField("Name", [Length(max=120)])
    role = SelectField(
        "Role",
        choices=[SelectChoice(r.value, r.value.capitalize()) for r in StaffRole],
        default=StaffRole.OFFICER.value,
    )


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r.value, r.value.capitalize()) for r in StaffRole])
