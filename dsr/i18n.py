"""Languages: English and Norwegian Bokmål. Pages pick ?lang=, then the case's language,
then the visitor's choice, then Accept-Language, then the controller's default."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, request, session
from flask_babel import Babel

log = logging.getLogger(__name__)

CATALOG_DIR = Path(__file__).resolve().parent / "translations"
LANGUAGE_NAMES = {"en": "English", "nb": "Norsk bokmål"}


def init_app(app: Flask) -> None:
    compiled = compile_catalogs(Path(app.instance_path) / ".translations")
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone,
          default_translation_directories=str(compiled))
    app.before_request(_remember_language_choice)
    app.context_processor(lambda: {"languages": available_languages(), "current_language": select_locale()})


def available_languages() -> tuple[str, ...]:
    return current_app.extensions["dsr.controller"].languages


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


def select_timezone() -> str:
    return current_app.extensions["dsr.controller"].timezone


def _remember_language_choice() -> None:
    chosen = request.args.get("lang")
    if chosen in available_languages() and session.get("lang") != chosen:
        session["lang"] = chosen


def compile_catalogs(target: Path) -> Path:
    """Compile the .po catalogues to .mo under the instance folder when they changed (milliseconds)."""
    for po_path in CATALOG_DIR.glob("*/LC_MESSAGES/*.po"):
        mo_path = target / po_path.relative_to(CATALOG_DIR).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parts[-3])
        temp = mo_path.with_suffix(f".{os.getpid()}.tmp")
        with temp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        temp.replace(mo_path)
    return target
