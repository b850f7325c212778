"""Connected-system declarations are validated at start-up, with file, line and key in every error."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from dsr import create_app
from dsr.connectors.base import Connector, DeclarationError, Identity, Record, SubjectRef
from dsr.connectors.registry import build_systems, get_systems, kind
from dsr.controller import SystemsFileError, load_systems_file
from tests.helpers.systems import system, write_systems


@kind("declaration_test")
class DeclarationTestConnector(Connector):
    """A kind used only to check the registry's validation; it never connects."""

    @classmethod
    def validate(cls, settings):
        if not isinstance(settings.get("path"), str):
            raise DeclarationError("path", "must be a file path")

    def locate(self, identity: Identity) -> SubjectRef:
        return SubjectRef(self.key)

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        return iter(())


SYSTEM = system(
    key="newsletter", name="Newsletter list", kind="declaration_test", path="list.csv",
    facts={"categories": ["E-mail"], "retention": "Until you unsubscribe"},
)


def _load(path, context=None):
    return build_systems(load_systems_file(path), context)


def test_a_valid_declaration_builds_a_connector(tmp_path):
    systems = _load(write_systems(tmp_path, SYSTEM))
    assert systems["newsletter"].connector.facts.retention == "Until you unsubscribe"


@pytest.mark.parametrize(("edit", "key", "line_text"), [
    (lambda t: t.replace('retention = "Until you unsubscribe"\n', ""), "systems[0].facts.retention",
     "[systems.facts]"),
    (lambda t: t.replace('kind = "declaration_test"', 'kind = "ftp"'), "systems[0].kind", 'kind = "ftp"'),
    (lambda t: t.replace('path = "list.csv"', "path = 3"), "systems[0].path", "path = 3"),
    (lambda t: t.replace('categories = ["E-mail"]', "categories = []"), "systems[0].facts.categories",
     "categories = []"),
])
def test_a_bad_declaration_names_file_line_and_key(tmp_path, edit, key, line_text):
    path = write_systems(tmp_path, edit(SYSTEM))
    text = path.read_text()
    with pytest.raises(SystemsFileError) as caught:
        _load(path)
    assert caught.value.key == key
    assert caught.value.line == text.splitlines().index(line_text) + 1


def test_duplicate_keys_are_refused(tmp_path):
    with pytest.raises(SystemsFileError, match="declared twice"):
        _load(write_systems(tmp_path, SYSTEM, SYSTEM))


def test_connector_modules_add_kinds_from_configuration(app_config, tmp_path):
    systems = write_systems(tmp_path, SYSTEM)
    app_config.update(SYSTEMS_FILE=str(systems), CONNECTOR_MODULES="tests.test_connector_registry")
    app = create_app(app_config)
    assert type(get_systems(app)["newsletter"].connector).__name__ == "DeclarationTestConnector"


def test_an_art_19_recipient_may_be_named_in_norwegian_and_a_blank_name_nb_is_refused(tmp_path):
    told = system(key="newsletter", name="Newsletter list", kind="declaration_test", path="list.csv",
                  notify=[{"name": "Our external accountant", "name_nb": "Vår eksterne regnskapsfører"},
                          {"name": "Mailchimp", "email": "privacy@mailchimp.example"}])
    first, second = _load(write_systems(tmp_path, told))["newsletter"].recipients
    assert (first.name_in("nb"), first.name_in("en")) == ("Vår eksterne regnskapsfører", "Our external accountant")
    assert second.name_in("nb") == "Mailchimp"  # no Norwegian name declared: shown as declared
    with pytest.raises(SystemsFileError, match="name_nb"):
        _load(write_systems(tmp_path / "blank", told.replace('"Vår eksterne regnskapsfører"', '" "')))
