"""Reading a `[[systems]]` declaration: typed settings with errors naming the key, origins, facts, paths."""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsr.connectors.base import CollectionRules, DeclarationError, Facts, Origin, Processing

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
COLLECTION = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ORIGINS = {o.value for o in Origin}


def need_str(settings: Mapping[str, Any], key: str, *, prefix: str = "", optional: bool = False,
             default: str | None = None) -> str | None:
    value = settings.get(key)
    if value is None:
        if optional:
            return default
        raise DeclarationError(prefix + key, "is required")
    if not isinstance(value, str) or not value.strip():
        raise DeclarationError(prefix + key, "must be a non-empty string")
    return value.strip()


def need_number(settings: Mapping[str, Any], key: str, default: float, *, prefix: str = "",
                minimum: float = 0.0, maximum: float | None = None) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum \
            or (maximum is not None and value > maximum):
        bound = f" and at most {maximum:g}" if maximum is not None else ""
        raise DeclarationError(prefix + key, f"must be a number above {minimum:g}{bound}")
    return float(value)


def need_identifier(settings: Mapping[str, Any], key: str, *, prefix: str = "", optional: bool = False,
                    default: str | None = None, pattern: re.Pattern = IDENTIFIER) -> str | None:
    value = settings.get(key, default)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise DeclarationError(prefix + key, "must be a plain name (letters, digits and _)")
    return value


def need_table(settings: Mapping[str, Any], key: str, *, prefix: str = "", optional: bool = True) -> dict:
    value = settings.get(key)
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise DeclarationError(prefix + key, "must be a table")
    return value


def need_list_of_tables(settings: Mapping[str, Any], key: str, *, prefix: str = "",
                        optional: bool = False) -> list[dict]:
    value = settings.get(key)
    if value is None and optional:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        raise DeclarationError(prefix + key, f"must be one or more [[systems.{key}]] tables")
    return value


def read_origins(table: Any, key: str) -> dict[str, Origin]:
    """`{field = "provided"|"observed"|"derived"}`, or `{field = {origin = ..., portable = ...}}`."""
    return read_fields(table, key)[0]


def read_fields(table: Any, key: str) -> tuple[dict[str, Origin], dict[str, bool]]:
    """The origin of each declared field, and the fields with their own `portable` setting."""
    if table is None:
        return {}, {}
    if not isinstance(table, dict):
        raise DeclarationError(key, "must be a table of field = origin")
    origins: dict[str, Origin] = {}
    portable: dict[str, bool] = {}
    for name, value in table.items():
        spec = value if isinstance(value, dict) else {"origin": value}
        if spec.get("origin") not in ORIGINS:
            raise DeclarationError(f"{key}.{name}", f"origin must be one of {sorted(ORIGINS)}")
        origins[name] = Origin(spec["origin"])
        setting = read_portable(spec, prefix=f"{key}.{name}.", origin=origins[name])
        if setting is not None:
            portable[name] = setting
    return origins, portable


def read_portable(settings: Mapping[str, Any], *, prefix: str = "", origin: Origin | None = None) -> bool | None:
    """`portable = true|false` (None when not given). True on a derived field is refused: Art. 20 covers
    what the subject provided and what was observed of their use, never what we worked out (WP242)."""
    value = settings.get("portable")
    if value is None:
        return None
    if not isinstance(value, bool):
        raise DeclarationError(prefix + "portable", "must be true or false")
    if value and origin is Origin.DERIVED:
        raise DeclarationError(prefix + "portable", "derived data is never portable (Art. 20 and WP242 cover what "
                                                    "the subject provided or was observed doing, not what we "
                                                    "worked out); use origin = \"observed\" if it was observed")
    return value


def collection_rules(settings: Mapping[str, Any], *, prefix: str = "", key_setting: str = "record_key",
                     default_key: str | None = None) -> CollectionRules:
    """A collection's CollectionRules from its declaration: `record_key` (the field identifying a record),
    `portable` and the fields' own `portable`."""
    _origins, portable = read_fields(settings.get("fields"), prefix + "fields")
    key_field = need_str(settings, key_setting, prefix=prefix, optional=True, default=default_key)
    table_portable = read_portable(settings, prefix=prefix)
    return CollectionRules(key_field=key_field, portable=table_portable is not False, field_portable=portable)


def read_default_origin(settings: Mapping[str, Any], key: str = "default_origin", prefix: str = "") -> Origin:
    value = settings.get(key, Origin.OBSERVED.value)
    if value not in ORIGINS:
        raise DeclarationError(prefix + key, f"must be one of {sorted(ORIGINS)}")
    return Origin(value)


def validate_translated_facts(settings: Mapping[str, Any]) -> None:
    """Optional `name_nb` and `[systems.facts_nb]`: the name and facts in Norwegian, for cases filed in nb."""
    if settings.get("name_nb") is not None:
        need_str(settings, "name_nb")
    table = settings.get("facts_nb")
    if table is None:
        return
    if not isinstance(table, dict):
        raise DeclarationError("facts_nb", "must be a table like [systems.facts]")
    for name, value in table.items():
        if name not in Facts.REQUIRED + ("third_country_transfers", "automated_decisions"):
            raise DeclarationError(f"facts_nb.{name}", "is not an Art. 15(1) fact")
        if name in ("purposes", "categories", "recipients"):
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise DeclarationError(f"facts_nb.{name}", "must be a non-empty list of strings")
        elif not isinstance(value, str) or not value.strip():
            raise DeclarationError(f"facts_nb.{name}", "must be a non-empty string")


def expand_path(template: str, instance_path: Path) -> str:
    """`{instance}` in a path or SQLite URL stands for the instance folder."""
    return template.replace("{instance}", str(instance_path))


PROCESSING_BASES = ("consent", "direct_marketing")


def read_processing(settings: Mapping[str, Any]) -> list[tuple[Processing, dict]]:
    """`[[systems.processing]]`: the uses of data a subject can stop here, each with its kind-specific
    way of stopping (the dict, which the kind reads). `bases`: "consent" (withdrawing it stops this) and
    "direct_marketing" (an objection to direct marketing stops this)."""
    found: list[tuple[Processing, dict]] = []
    for index, entry in enumerate(need_list_of_tables(settings, "processing", optional=True)):
        prefix = f"processing[{index}]."
        key = need_identifier(entry, "key", prefix=prefix)
        if any(known.key == key for known, _ in found):
            raise DeclarationError(prefix + "key", f"processing {key!r} is declared twice")
        bases = entry.get("bases")
        if not isinstance(bases, list) or not bases or not set(bases) <= set(PROCESSING_BASES):
            raise DeclarationError(prefix + "bases", f"must list one or both of {list(PROCESSING_BASES)}")
        found.append((Processing(key=key, name=need_str(entry, "name", prefix=prefix),
                                 name_nb=need_str(entry, "name_nb", prefix=prefix, optional=True),
                                 bases=frozenset(bases)), entry))
    return found
