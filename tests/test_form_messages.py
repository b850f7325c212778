"""WTForms' own messages (a tampered choice, say) come in the page's language, from a catalogue each process
reads once per language rather than at every request that builds a form."""
from __future__ import annotations

import flask_wtf
from wtforms import RadioField, SelectChoice

from dsr import forms
from dsr.forms import PortalForm


class _ChoiceForm(PortalForm):
    class Meta:
        csrf = False

    colour = RadioField(choices=[SelectChoice("red", "Red"), SelectChoice("blue", "Blue")])


def _error_for_a_tampered_choice(app, language: str) -> str:
    with app.test_request_context(f"/?lang={language}", method="POST", data={"colour": "green"}):
        form = _ChoiceForm()
        assert not form.validate()
        return form.colour.errors[0]


def test_wtforms_own_messages_follow_the_page_language_and_the_catalogue_is_read_once(app):
    forms._WTFORMS_CATALOGUES.clear()
    assert _error_for_a_tampered_choice(app, "nb") == "Ikke et gyldig valg"
    assert _error_for_a_tampered_choice(app, "en") == "Not a valid choice."
    kept = dict(forms._WTFORMS_CATALOGUES)
    assert _error_for_a_tampered_choice(app, "nb") == "Ikke et gyldig valg"
    assert forms._WTFORMS_CATALOGUES["nb"] is kept["nb"]  # not read again


def test_every_form_of_the_portal_uses_the_shared_catalogue(app):
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    portal_forms = [cls for cls in subclasses(flask_wtf.FlaskForm) if cls.__module__.startswith("dsr.")]
    assert len(portal_forms) > 30  # the app's blueprints are imported
    assert [cls.__qualname__ for cls in portal_forms if not issubclass(cls, PortalForm)] == []
