"""The staff form that registers a request which came by e-mail, post, phone or in person."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from dsr.cases.forms import _TEXT, RIGHT_CHOICES, choices
from dsr.cases.opening import IDENTITY_METHODS
from dsr.intake.registration import SEND_CODES, STAFF_CHANNELS


class RegisterForm(FlaskForm):
    right = SelectField("Right asked for", choices=RIGHT_CHOICES)
    channel = RadioField(
        "How did the request arrive?",
        choices=choices((c.value, c.value.replace("_", " ").capitalize()) for c in STAFF_CHANNELS),
        validators=[DataRequired("Choose how the request arrived.")],
    )
    received_date = DateField(
        "Date received",
        [InputRequired("Enter the date the request was received, as on the letter or e-mail.")],
    )
    received_time = TimeField(
        "Time received (controller's local time)",
        [InputRequired("Enter the time the request was received, like 14:30.")],
    )
    email = StringField(
        "The subject's e-mail address",
        [
            DataRequired("Enter an e-mail address to answer to."),
            Email("Enter a valid e-mail address, like name@example.com.", check_deliverability=False),
            Length(max=254),
        ],
    )
    phone = StringField("Phone", [Optional(), Length(max=20)])
    full_name = StringField("Name", [Optional(), Length(max=200)])
    language = RadioField(
        "Language for letters", choices=choices([("nb", "Norsk bokmål"), ("en", "English")]), default="nb"
    )
    details = TextAreaField("What the person asked for", [Optional(), _TEXT])
    identity = RadioField(
        "Identity",
        choices=choices(
            [("not_yet", "Not established yet: confirm it later on the case page"),
             (SEND_CODES, "Send the person the web form's codes: to this e-mail, and by SMS to a phone on file "
                          "for access, portability and erasure"),
             *IDENTITY_METHODS.items()]
        ),
        default="not_yet",
    )
