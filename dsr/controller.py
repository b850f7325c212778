"""The controller's facts and the raw system declarations from `systems.toml`.

The controller is a configuration object kept in `app.extensions["dsr.controller"]`,
never a module global, so one installation can later serve several controllers.
Every validation error names the file, the line and the key.
"""
from __future__ import annotations

import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import holidays

SUPPORTED_LANGUAGES = ("en", "nb")


class SystemsFileError(ValueError):
    def __init__(self, path: Path | str, line: int | None, key: str, problem: str):
        self.path, self.line, self.key, self.problem = str(path), line, key, problem
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}, key '{key}': {problem}")


@dataclass(frozen=True)
class SupervisoryAuthority:
    name: str
    address: str
    url: str = ""
    email: str = ""


@dataclass(frozen=True)
class Controller:
    name: str
    contact_email: str
    address: str
    dpo_name: str
    dpo_email: str
    authority: SupervisoryAuthority
    timezone: str = "Europe/Oslo"
    holiday_country: str = "NO"
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES
    default_language: str = "en"
    org_number: str = ""
    phone: str = ""
    #: a promise stricter than the law's month (e.g. "we answer within 30 days"): the due date is the
    #: earlier of receipt + these days and the legal month; None when the notice promises nothing shorter
    answer_within_days: int | None = None

    def in_language(self, language: str) -> Controller:
        """The controller as a page or letter in `language` names it: its postal addresses end with the
        country in that language ("0152 Oslo, Norway" in a Norwegian letter is "0152 Oslo, Norge")."""
        return self if language != "nb" else _named_in(self, language)


@lru_cache(maxsize=32)  # every page asks (the controller is immutable, read from systems.toml)
def _named_in(controller: Controller, language: str) -> Controller:
    authority = replace(controller.authority, address=postal_address(controller.authority.address, language))
    return replace(controller, address=postal_address(controller.address, language), authority=authority)


#: country names as a Norwegian address writes them (systems.toml declares addresses in English)
_COUNTRIES_NB = {"Norway": "Norge", "Sweden": "Sverige", "Denmark": "Danmark", "Finland": "Finland",
                 "Iceland": "Island", "Germany": "Tyskland", "Ireland": "Irland", "Netherlands": "Nederland",
                 "United Kingdom": "Storbritannia", "France": "Frankrike", "Spain": "Spania",
                 "Belgium": "Belgia", "Poland": "Polen"}


def postal_address(address: str, language: str) -> str:
    """A declared postal address with its last part, the country, in `language` (unknown names unchanged)."""
    head, comma, country = address.rpartition(",")
    translated = _COUNTRIES_NB.get(country.strip()) if language == "nb" and comma else None
    return f"{head}, {translated}" if translated else address


@dataclass(frozen=True)
class SystemsFile:
    path: Path
    controller: Controller
    systems: list[dict[str, Any]] = field(default_factory=list)  # validated by dsr.connectors.registry
    text: str = ""

    def line_of(self, *key_path: str | int) -> int | None:
        return find_key_line(self.text, key_path)


def load_systems_file(path: Path | str) -> SystemsFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SystemsFileError(path, None, "(file)", f"cannot be read ({exc.strerror})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise SystemsFileError(path, int(match.group(1)) if match else None, "(syntax)",
                               f"not valid TOML ({exc})") from exc
    controller = _read_controller(path, text, data)
    systems = data.get("systems", [])
    if not isinstance(systems, list) or not all(isinstance(s, dict) for s in systems):
        raise SystemsFileError(path, find_key_line(text, ("systems",)), "systems",
                               "must be a list of [[systems]] tables")
    return SystemsFile(path=path, controller=controller, systems=systems, text=text)


def _read_controller(path: Path, text: str, data: dict[str, Any]) -> Controller:
    section = data.get("controller")
    if not isinstance(section, dict):
        raise SystemsFileError(path, None, "controller", "a [controller] table is required")

    def need(table: dict, *keys: str, optional: bool = False, default: str = "") -> str:
        value = table.get(keys[-1])
        dotted = ".".join(("controller",) + keys)
        if value is None:
            if optional:
                return default
            raise SystemsFileError(path, find_key_line(text, ("controller",) + keys[:-1]), dotted, "is required")
        if not isinstance(value, str) or not value.strip():
            raise SystemsFileError(path, find_key_line(text, ("controller",) + keys), dotted,
                                   "must be a non-empty string")
        return value.strip()

    authority_table = section.get("supervisory_authority")
    if not isinstance(authority_table, dict):
        raise SystemsFileError(path, find_key_line(text, ("controller",)), "controller.supervisory_authority",
                               "a [controller.supervisory_authority] table is required")
    authority = SupervisoryAuthority(
        name=need(authority_table, "supervisory_authority", "name"),
        address=need(authority_table, "supervisory_authority", "address"),
        url=need(authority_table, "supervisory_authority", "url", optional=True),
        email=need(authority_table, "supervisory_authority", "email", optional=True),
    )
    timezone = need(section, "timezone", optional=True, default="Europe/Oslo")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SystemsFileError(path, find_key_line(text, ("controller", "timezone")), "controller.timezone",
                               f"unknown timezone {timezone!r} (use an IANA name such as Europe/Oslo)") from None
    country = need(section, "holiday_country", optional=True, default="NO").upper()
    _check_country(path, text, country)
    languages = section.get("languages", list(SUPPORTED_LANGUAGES))
    if (not isinstance(languages, list) or not languages
            or any(lang not in SUPPORTED_LANGUAGES for lang in languages)):
        raise SystemsFileError(path, find_key_line(text, ("controller", "languages")), "controller.languages",
                               f"must be a list drawn from {list(SUPPORTED_LANGUAGES)}")
    default_language = need(section, "default_language", optional=True, default=languages[0])
    if default_language not in languages:
        raise SystemsFileError(path, find_key_line(text, ("controller", "default_language")),
                               "controller.default_language", f"must be one of {languages}")
    return Controller(
        name=need(section, "name"),
        contact_email=need(section, "contact_email"),
        address=need(section, "address"),
        dpo_name=need(section, "dpo_name"),
        dpo_email=need(section, "dpo_email"),
        authority=authority,
        timezone=timezone,
        holiday_country=country,
        languages=tuple(languages),
        default_language=default_language,
        org_number=need(section, "org_number", optional=True),
        phone=need(section, "phone", optional=True),
        answer_within_days=_answer_within_days(path, text, section),
    )


#: the longest promise that can still be stricter than the law's month (Art. 12(3))
MAX_PROMISED_DAYS = 31


def _answer_within_days(path: Path, text: str, section: dict[str, Any]) -> int | None:
    value = section.get("answer_within_days")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PROMISED_DAYS:
        raise SystemsFileError(path, find_key_line(text, ("controller", "answer_within_days")),
                               "controller.answer_within_days",
                               f"must be a whole number of days from 1 to {MAX_PROMISED_DAYS}, not {value!r}")
    return value


def _check_country(path: Path, text: str, country: str) -> None:
    if country not in holidays.list_supported_countries():
        raise SystemsFileError(path, find_key_line(text, ("controller", "holiday_country")),
                               "controller.holiday_country", f"unknown country code {country!r}")


_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")


def find_key_line(text: str, key_path: tuple[str | int, ...]) -> int | None:
    """Best-effort line number of a key such as ("controller", "timezone") or ("systems", 2, "url").

    tomllib gives no positions, so we walk the table headers: an int in the path picks the
    n-th `[[array]]` table of that name. Falls back to the enclosing table's header line.
    """
    *table_path, last = key_path
    table = [p for p in table_path if isinstance(p, str)]
    index = next((p for p in table_path if isinstance(p, int)), 0)
    seen: dict[str, int] = {}
    header_line: int | None = None
    in_table = not table
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            name = [part.strip().strip('"') for part in header.group(1).split(".")]
            dotted = ".".join(name)
            seen[dotted] = seen.get(dotted, -1) + 1
            if name == table + [str(last)]:
                return number
            in_table = name == table and seen[dotted] == index
            if in_table:
                header_line = number
            continue
        if in_table and "=" in line and line.split("=", 1)[0].strip().strip('"') == str(last):
            return number
    return header_line
