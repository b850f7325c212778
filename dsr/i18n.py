"""Languages: English and Norwegian Bokmål. Pages pick ?lang=, then the case's language,
then the visitor's choice, then Accept-Language, then the controller's default."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from babel.core import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask, current_app, g, request, session, url_for
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    get_timezone,
    get_translations,
    refresh,
)
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

log = logging.getLogger(__name__)

CATALOG_DIR = Path(__file__).resolve().parent / "translations"
LANGUAGE_NAMES = {"en": "English", "nb": "Norsk bokmål"}


def init_app(app: Flask) -> None:
    compiled = compile_catalogs(Path(app.instance_path) / ".translations")
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone,
          default_translation_directories=str(compiled))
    # Flask-Babel installed Jinja's i18n extension (newstyle); its text functions are replaced by ones
    # without the extension's two indirections per text (a page has dozens)
    app.jinja_env.globals.update(_=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext,
                                 pgettext=_template_pgettext, npgettext=_template_npgettext)
    app.jinja_env.filters.update(dateformat=_kept_format(format_date), datetimeformat=_kept_format(format_datetime))
    # Flask-Babel keeps the locale of the first text translated in an app context; a context several
    # requests share (tests that hold one open) must not hand one request's language to the next.
    app.before_request(refresh)
    app.before_request(_remember_language_choice)
    app.context_processor(_page_language)
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


#: the template context's key for the language a page is rendered in (read once per render)
_SPOKEN = "_dsr_spoken"


class _Spoken(NamedTuple):
    catalogue: Translations
    locale: Locale
    timezone: tzinfo

    @classmethod
    def now(cls) -> _Spoken:
        return cls(_catalogue(), get_locale(), get_timezone())


def _page_language() -> dict:
    spoken = _Spoken.now()
    return {"languages": available_languages(), "current_language": str(spoken.locale), "language_url": language_url,
            _SPOKEN: spoken}


def _catalogue_of(context: Context) -> Translations:
    # Macros imported from another template render without the page's context: they ask Flask-Babel.
    spoken = context.get(_SPOKEN)
    return spoken.catalogue if spoken is not None else _catalogue()


def _as_template_text(context: Context, text: str, variables: dict) -> str:
    # As Jinja's newstyle gettext: escaped variables, and always a format string
    return (Markup(text) if context.eval_ctx.autoescape else text) % variables


# Positional-only: a template may pass any name as a value (ngettext(..., n, num=shown), text=...)


@pass_context
def _template_gettext(context: Context, text: str, /, **variables) -> str:
    return _as_template_text(context, _catalogue_of(context).ugettext(text), variables)


@pass_context
def _template_ngettext(context: Context, singular: str, plural: str, num: int, /, **variables) -> str:
    variables.setdefault("num", num)
    return _as_template_text(context, _catalogue_of(context).ungettext(singular, plural, num), variables)


@pass_context
def _template_pgettext(context: Context, text_context: str, text: str, /, **variables) -> str:
    variables.setdefault("context", text_context)
    return _as_template_text(context, _catalogue_of(context).upgettext(text_context, text), variables)


@pass_context
def _template_npgettext(context: Context, text_context: str, singular: str, plural: str, num: int, /,
                        **variables) -> str:
    variables.setdefault("context", text_context)
    variables.setdefault("num", num)
    return _as_template_text(context, _catalogue_of(context).unpgettext(text_context, singular, plural, num),
                             variables)


def _kept_format(formatter: Callable[..., str]) -> Callable[..., str]:
    """Flask-Babel's date filter, each (instant, format, language, time zone) formatted once per process:
    Babel takes tens of microseconds per date, and a page's dates repeat from view to view."""

    @lru_cache(maxsize=4096)
    def formatted(value, format, locale, timezone) -> str:  # locale and timezone: the key only
        return formatter(value, format)

    @pass_context
    def kept(context: Context, value=None, format=None) -> str:
        if value is None:  # "now": never the same twice
            return formatter(value, format)
        spoken = context.get(_SPOKEN)
        if spoken is None:
            return formatted(value, format, get_locale(), get_timezone())
        return formatted(value, format, spoken.locale, spoken.timezone)

    return kept


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
