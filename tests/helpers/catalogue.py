"""Which texts of the code and the templates have no Norwegian translation in the merged catalogues."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dsr import REPO_ROOT
from dsr.i18n import CATALOG_DIR

#: gettext, ngettext and the lazy variants the forms use
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "lazy_ngettext": (1, 2), "_n": (1, 2)}


def translated_texts(language: str = "nb") -> dict[str, str]:
    translated = {}
    for path in (CATALOG_DIR / language / "LC_MESSAGES").glob("*.po"):
        with open(path, "rb") as handle:
            for message in read_po(handle):
                if message.id:
                    key = message.id if isinstance(message.id, str) else message.id[0]
                    translated[key] = message.string
    return translated


def untranslated(templates: tuple[str, ...] = (), code: tuple[str, ...] = (), language: str = "nb") -> list[str]:
    """`templates`: folders (or single files) under templates/; `code`: folders under dsr/ ("" for all)."""
    translated = translated_texts(language)
    sources = []
    for area in templates:
        path = REPO_ROOT / "templates" / area
        sources.append((path.parent, [(path.name, "jinja2")]) if path.is_file() else (path, [("**.html", "jinja2")]))
    sources += [(REPO_ROOT / "dsr" / area, [("**.py", "python")]) for area in code]
    missing = set()
    for folder, method_map in sources:
        for filename, line, text, _comments, _context in extract_from_dir(str(folder), method_map=method_map,
                                                                        keywords=KEYWORDS):
            key = text if isinstance(text, str) else text[0]
            if not translated.get(key):
                missing.add(f"{folder.name}/{filename}:{line}: {key[:80]}")
    return sorted(missing)
