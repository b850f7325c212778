"""The Norwegian words the law and Datatilsynet use, the same in every catalogue and every Norwegian letter
(dsr/translations/README.md is the glossary): "forespørsel" for a request, "innsyn" for access, "tvingende
berettigede grunner" (Art. 21(1)), "protest" for an objection."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from dsr.controller import postal_address
from dsr.i18n import CATALOG_DIR

ROOT = Path(__file__).resolve().parent.parent
#: words a Norwegian text must not use, and the glossary's word instead
NOT_OUR_WORDS = {
    r"henvendelse\w*": "forespørsel (a request)",
    r"anmodning\w*": "forespørsel (a request)",
    r"tungtveiende": "tvingende berettigede grunner (Art. 21(1))",
    r"innsigelse\w*": "protest (Art. 21)",
}


def _norwegian_texts() -> list[tuple[str, str]]:
    """(where, text) of every nb catalogue entry and every nb letter and text message."""
    found = []
    for path in sorted((CATALOG_DIR / "nb" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale="nb"):
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                found += [(f"{path.name}: {message.id!r}", text) for text in strings if message.id and text]
    for folder in ("emails/nb", "sms/nb"):
        found += [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted((ROOT / "templates" / folder).iterdir())]
    return found


def test_every_norwegian_text_uses_the_glossarys_words():
    wrong = [f"{where}: {match.group(0)!r}, use {instead}"
             for where, text in _norwegian_texts()
             for pattern, instead in NOT_OUR_WORDS.items()
             for match in re.finditer(pattern, text, re.IGNORECASE)]
    assert wrong == []


def test_the_objection_form_names_the_controllers_compelling_legitimate_grounds(client):
    norwegian = client.get("/request/objection?lang=nb").get_data(as_text=True)
    assert "tvingende berettigede grunner" in norwegian and "tungtveiende" not in norwegian
    assert "compelling legitimate grounds" in client.get("/request/objection?lang=en").get_data(as_text=True)


@pytest.mark.parametrize(("address", "language", "written"), [
    ("Dronningens gate 12, 0152 Oslo, Norway", "nb", "Dronningens gate 12, 0152 Oslo, Norge"),
    ("Dronningens gate 12, 0152 Oslo, Norway", "en", "Dronningens gate 12, 0152 Oslo, Norway"),
    ("Box 1, 111 22 Stockholm, Sweden", "nb", "Box 1, 111 22 Stockholm, Sverige"),
    ("Dronningens gate 12, 0152 Oslo", "nb", "Dronningens gate 12, 0152 Oslo"),  # no country: as declared
    ("1 Main Street, Springfield, Freedonia", "nb", "1 Main Street, Springfield, Freedonia"),  # unknown: as declared
])
def test_a_postal_address_ends_with_the_country_in_the_letters_language(address, language, written):
    assert postal_address(address, language) == written
