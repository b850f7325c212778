"""The staff form that registers a request which came by e-mail, post, phone or in person."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from dsr.cases.forms import _TEXT, RIGHT_CHOICES, choices
from dsr.cases.opening import IDENTITY_METHODS
from dsr.forms import PortalForm
from dsr.intake.registration import SEND_CODES, STAFF_CHANNELS
from dsr.representation.forms import RELATIONSHIP_CHOICES

FOR_SELF, FOR_SOMEONE_ELSE = "self", "representative"


class RegisterForm(PortalForm):
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
    filed_by = RadioField(
        _l("Who asked?"),
        choices=choices([(FOR_SELF, _l("The person the data is about")),
                         (FOR_SOMEONE_ELSE, _l("Someone acting for them (a parent, a guardian, a lawyer, an "
                                               "employer)"))]),
        default=FOR_SELF,
    )
    email = StringField(
        _l("The subject's e-mail address"),
        [
            Optional(),
            Email("Enter a valid e-mail address, like name@example.com.", check_deliverability=False),
            Length(max=254),
        ],
    )
    postal_address = TextAreaField(_l("The subject's postal address"), [Optional(), Length(max=250)])
    phone = StringField("Phone", [Optional(), Length(max=20)])
    full_name = StringField("Name", [Optional(), Length(max=200)])
    rep_name = StringField(_l("The representative's name"), [Optional(), Length(max=200)])
    rep_email = StringField(_l("The representative's e-mail address"), [Optional(), Length(max=254)])
    rep_postal_address = TextAreaField(_l("The representative's postal address"), [Optional(), Length(max=250)])
    relationship = RadioField(_l("They act for the subject as"), choices=RELATIONSHIP_CHOICES,
                              validators=[Optional()])
    relationship_note = StringField(_l("More about the relationship (optional)"), [Optional(), Length(max=200)])
    authorisation = FileField(_l("The representative's authorisation (PDF, JPEG or PNG)"))
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
