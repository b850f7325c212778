"""Pages in English and Norwegian Bokmål; each area's catalogue merges into one."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.support import Translations
from flask import render_template_string

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


def _page(app, language: str, source: str, **values) -> str:
    with app.test_request_context(f"/?lang={language}"):
        return render_template_string(source, **values)


def test_template_texts_translate_escape_their_values_and_count(app):
    source = ('{{ _("Request %(reference)s", reference=ref) }}|{{ ngettext("%(num)d day added", "%(num)d days added", n) }}'
              '|{{ pgettext("bundle", "About this data") }}')
    assert _page(app, "nb", source, ref="<b>R-1</b>", n=2) == (
        "Forespørsel &lt;b&gt;R-1&lt;/b&gt;|2 dager lagt til|Om disse opplysningene")
    assert _page(app, "en", source, ref="R-1", n=1) == "Request R-1|1 day added|About this data"
    # a template may give the count as the page shows it
    assert _page(app, "nb", '{{ ngettext("%(num)s file", "%(num)s files", n, num=n|number) }}', n=1200) == "1\xa0200 filer"
    # a template rendered without the page's context (an imported macro) asks Flask-Babel itself
    with app.test_request_context("/?lang=nb"):
        assert app.jinja_env.from_string('{{ _("Error:") }}').render() == "Feil:"


def test_a_date_is_shown_in_each_pages_language_and_in_the_controllers_time_zone(app):
    late_evening = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # already 2 December in Oslo
    source = '{{ at|dateformat("long") }}|{{ at|datetimeformat("medium") }}'
    english, norwegian = _page(app, "en", source, at=late_evening), _page(app, "nb", source, at=late_evening)
    assert english.startswith("December 2, 2026|") and "12:30" in english
    assert norwegian.startswith("2. desember 2026|") and "00:30" in norwegian
    assert _page(app, "en", source, at=late_evening) == english  # formatted once, per language
