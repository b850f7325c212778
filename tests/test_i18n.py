"""Pages in English and Norwegian Bokmål; each area's catalogue merges into one."""
from __future__ import annotations

import pytest
from babel.support import Translations

from dsr import REPO_ROOT, i18n
from tests.helpers.catalogue import untranslated


def test_the_start_page_speaks_norwegian_when_asked(client):
    page = client.get("/?lang=nb").get_data(as_text=True)
    assert 'lang="nb"' in page and "Gå til hovedinnholdet" in page and "Innsyn – se hvilke opplysninger vi har om deg" in page
    assert "Skip to main content" in client.get("/?lang=en").get_data(as_text=True)


def test_the_language_choice_is_remembered(client):
    client.get("/?lang=nb")
    assert "Gå til hovedinnholdet" in client.get("/").get_data(as_text=True)


def test_error_pages_are_translated(client):
    page = client.get("/no-such-page?lang=nb")
    assert page.status_code == 404 and "Vi fant ikke siden" in page.get_data(as_text=True)


def _po(entries: dict[str, str]) -> str:
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
    return header + "".join(f'msgid "{k}"\nmsgstr "{v}"\n\n' for k, v in entries.items())


def test_area_catalogues_merge_and_conflicting_translations_are_refused(tmp_path, monkeypatch):
    catalogs = tmp_path / "translations" / "nb" / "LC_MESSAGES"
    catalogs.mkdir(parents=True)
    (catalogs / "a.po").write_text(_po({"Yes": "Ja"}))
    (catalogs / "b.po").write_text(_po({"No": "Nei", "Yes": "Ja"}))
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path / "translations")
    i18n.compile_catalogs(tmp_path / "out")

    translations = Translations.load(str(tmp_path / "out"), ["nb"])
    assert translations.gettext("Yes") == "Ja" and translations.gettext("No") == "Nei"

    (catalogs / "b.po").write_text(_po({"Yes": "Jo"}))
    with pytest.raises(ValueError, match="differently"):
        i18n.compile_catalogs(tmp_path / "out2")


def test_the_language_switcher_never_links_to_a_page_that_only_takes_a_post(client):
    # A form's answer page (POST only) offers the start page in the other language instead of a 405.
    page = client.post("/verify/no-such-request/resend?lang=en").get_data(as_text=True)  # a POST-only URL
    assert 'href="/?lang=nb"' in page and "/resend?lang=nb" not in page
    assert 'href="/request?lang=nb"' in client.get("/request?lang=en").get_data(as_text=True)


def test_every_text_of_every_page_has_a_norwegian_translation():
    """Subject pages, the bundle, staff pages, error pages, form macros and the messages code builds
    for them. (Letters and SMS have a template per language, in templates/emails/.)"""
    areas = tuple(sorted(p.name for p in (REPO_ROOT / "templates").iterdir() if p.is_dir() and p.name != "emails"))
    assert {"subject", "intake", "cases", "actions", "auth", "export"} <= set(areas)
    missing = untranslated(templates=(*areas, "base.html"), code=("",))
    assert missing == []
