"""Forms about a representative: the relationship choices (the web form's and staff's), and the staff
forms of the authorisation page (reject with a reason, attach a file that came another way)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectChoice, TextAreaField
from wtforms.validators import DataRequired, Length

from dsr.cases.decisions import MAX_TEXT
from dsr.forms import PortalForm
from dsr.models import AuthorisationState, Relationship

RELATIONSHIP_LABELS = {
    Relationship.PARENT: _l("Parent, for a child"),
    Relationship.GUARDIAN: _l("Guardian (verge)"),
    Relationship.LAWYER: _l("Lawyer or other representative with a power of attorney"),
    Relationship.EMPLOYER: _l("Employer, for an employee"),
    Relationship.OTHER: _l("Something else"),
}
AUTHORISATION_STATE_LABELS = {
    AuthorisationState.PENDING: _l("to check"),
    AuthorisationState.ACCEPTED: _l("accepted"),
    AuthorisationState.REJECTED: _l("rejected"),
}
RELATIONSHIP_CHOICES = [SelectChoice(value.value, label) for value, label in RELATIONSHIP_LABELS.items()]


class RejectAuthorisationForm(PortalForm):
    reason = TextAreaField(
        _l("Why the authorisation is not enough (sent to the representative)"),
        [DataRequired(_l("Write why the authorisation is not enough.")), Length(max=MAX_TEXT)],
    )


class AttachAuthorisationForm(PortalForm):
    file = FileField(_l("Authorisation file (PDF, JPEG or PNG)"),
                     [FileRequired(_l("Choose the file with the authorisation."))])
