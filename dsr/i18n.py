"""Languages: English and Norwegian Bokmål. Pages pick ?lang=, then the case's language,
then the visitor's choice, then Accept-Language, then the controller's default."""
from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, request, session, url_for
from flask_babel import Babel, format_decimal, get_locale, get_translations, refresh

log = logging.getLogger(__name__)

CATALOG_DIR = Path(__file__).resolve().parent / "translations"
LANGUAGE_NAMES = {"en": "English", "nb": "Norsk bokmål"}


def init_app(app: Flask) -> None:
    compiled = compile_catalogs(Path(app.instance_path) / ".translations")
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone,
          default_translation_directories=str(compiled))
    app.jinja_env.install_gettext_callables(
        gettext=lambda text: _catalogue().ugettext(text),
        ngettext=lambda singular, plural, n: _catalogue().ungettext(singular, plural, n),
        pgettext=lambda context, text: _catalogue().upgettext(context, text),
        npgettext=lambda context, singular, plural, n: _catalogue().unpgettext(context, singular, plural, n),
        newstyle=True,
    )
    # Flask-Babel keeps the locale of the first text translated in an app context; a context several
    # requests share (tests that hold one open) must not hand one request's language to the next.
    app.before_request(refresh)
    app.before_request(_remember_language_choice)
    app.context_processor(lambda: {"languages": available_languages(), "current_language": select_locale(),
                                   "language_url": language_url})
    app.add_template_filter(staff_time, "staff_time")
    app.add_template_filter(format_decimal, "number")  # 1,234 for English pages, 1 234 for Norwegian ones


def _catalogue():
    """This request's translations for the page's texts. Flask-Babel looks them up again at every text (a
    page has dozens); they change only with the locale, so they are kept while Flask-Babel's locale object
    is the same one (use_language and refresh() replace it)."""
    locale = getattr(g.get("_flask_babel"), "babel_locale", None)
    kept = g.get("_dsr_catalogue")
    if kept is not None and locale is not None and kept[0] is locale:
        return kept[1]
    translations = get_translations()
    g._dsr_catalogue = (get_locale(), translations)
    return translations


def staff_time(instant: datetime | None, timezone: str | None = None) -> str:
    """An instant as staff read it: the controller's local time, to the minute ("" for none)."""
    if instant is None:
        return ""
    zone = ZoneInfo(timezone or current_app.extensions["dsr.controller"].timezone)
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def available_languages() -> tuple[str, ...]:
    return current_app.extensions["dsr.controller"].languages


def staff_language(user) -> str:
    """The language a staff member chose for the staff pages; English until they choose."""
    chosen = getattr(user, "language", None)
    return chosen if chosen in available_languages() else "en"


def use_language(code: str) -> None:
    """This request's pages in `code`: Flask-Babel keeps the locale of the first text it translated in
    this context, so it forgets it here (a text translated earlier, e.g. by a before-request hook)."""
    g.language = code
    refresh()


def select_locale() -> str:
    languages = available_languages()
    forced = g.get("language")  # a case page, or a job rendering a letter in the case's language
    if forced in languages:
        return forced
    if request:
        chosen = request.args.get("lang") or session.get("lang")
        if chosen in languages:
            return chosen
        best = request.accept_languages.best_match(languages + ("no", "nn"))
        if best in ("no", "nn") and "nb" in languages:
            return "nb"
        if best:
            return best
    return current_app.extensions["dsr.controller"].default_language


def language_url(code: str) -> str:
    """This page in another language; the start page when this URL only takes a POST (a form's answer)."""
    rule = request.url_rule
    if rule is not None and "GET" in (rule.methods or ()) and request.endpoint:
        return url_for(request.endpoint, **dict(request.view_args or {}, lang=code))
    return url_for("intake.index", lang=code)


def select_timezone() -> str:
    return current_app.extensions["dsr.controller"].timezone


def _remember_language_choice() -> None:
    chosen = request.args.get("lang")
    if chosen in available_languages() and session.get("lang") != chosen:
        session["lang"] = chosen


def compile_catalogs(target: Path) -> Path:
    """Compile the catalogues to `<target>/<lang>/LC_MESSAGES/messages.mo` when they changed (milliseconds).

    Each area keeps its own catalogue (`translations/nb/LC_MESSAGES/intake.po`, `cases.po`, ...) so
    areas never edit one shared file; they are merged into the single `messages` domain here. A
    msgid translated in two catalogues must be translated the same way (the merge refuses otherwise).
    """
    for language_dir in sorted(p for p in CATALOG_DIR.glob("*/LC_MESSAGES") if p.is_dir()):
        sources = sorted(language_dir.glob("*.po"))
        if not sources:
            continue
        language = language_dir.parent.name
        mo_path = target / language / "LC_MESSAGES" / "messages.mo"
        newest = max(p.stat().st_mtime for p in sources)
        if mo_path.exists() and mo_path.stat().st_mtime >= newest:
            continue
        merged = _merge_catalogs(sources, language)
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        temp = mo_path.with_suffix(f".{os.getpid()}.tmp")
        with temp.open("wb") as fh:
            write_mo(fh, merged, use_fuzzy=False)
        temp.replace(mo_path)
    return target


def _merge_catalogs(sources: list[Path], language: str) -> Catalog:
    merged = Catalog(locale=language, domain="messages")
    origin: dict[object, Path] = {}
    for source in sources:
        with source.open("rb") as fh:
            catalog = read_po(fh, locale=language)
        for message in catalog:
            if not message.id:
                continue  # the header entry
            existing = merged.get(message.id, message.context)
            if existing is not None and existing.string and message.string and existing.string != message.string:
                raise ValueError(f"{source.name} and {origin[message.id].name} translate {message.id!r} differently")
            if existing is None or not existing.string:
                merged.add(message.id, message.string, context=message.context, flags=message.flags)
                origin[message.id] = source
    return merged
