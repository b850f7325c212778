"""Ready-made declarations of the systems controllers use (HubSpot, Mailchimp, Zendesk, ...), shipped as
TOML files in dsr/connectors/templates/. A `[[systems]]` entry switches one on with `template = "hubspot"`
and gives what is its own (key, credentials' variables, vars); anything else it sets overrides the
template's: tables merge key by key (so `[systems.facts] retention = "..."` changes that fact only),
arrays (collections, processing, notify) replace the template's whole.

A template file holds the settings of one `[[systems]]` entry, without `key`, plus a `[template]` table:
`title`, `docs` (the vendor's API documentation it follows) and `needs` (settings the entry must give,
each with a sentence saying what, e.g. `"vars.list_id" = "the audience id (Audience > Settings)"`).
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Template:
    key: str
    path: Path
    text: str
    settings: dict[str, Any]
    title: str
    docs: str
    needs: dict[str, str] = field(default_factory=dict)


class TemplateError(ValueError):
    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


@cache
def available() -> dict[str, Template]:
    """Every shipped template by key (the file's name)."""
    found = {}
    for path in sorted(TEMPLATE_DIR.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        about = data.pop("template", {})
        found[path.stem] = Template(key=path.stem, path=path, text=text, settings=data,
                                    title=about.get("title", path.stem), docs=about.get("docs", ""),
                                    needs=dict(about.get("needs", {})))
    return found


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`: tables merged key by key, everything else (arrays too) replaced."""
    merged = copy.deepcopy(base)
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge(merged[name], value)
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def expand(entry: dict[str, Any]) -> tuple[dict[str, Any], Template | None]:
    """The entry with its template's settings under it, and the template (None without one).
    TemplateError: no such template, or a setting it needs is missing (the message says which)."""
    name = entry.get("template")
    if name is None:
        return entry, None
    templates = available()
    if not isinstance(name, str) or name not in templates:
        raise TemplateError("template", f"must be one of {sorted(templates)}")
    template = templates[name]
    merged = merge(template.settings, {k: v for k, v in entry.items() if k != "template"})
    for needed, what in template.needs.items():
        if lookup(merged, needed) is None:
            raise TemplateError(needed, f"template {name} needs it: {what}")
    return merged, template


def lookup(table: Any, dotted: str) -> Any:
    """The value at a dotted key ("vars.list_id", "collections.0.path"), None when absent."""
    for part in dotted.split("."):
        if isinstance(table, dict):
            table = table.get(part)
        elif isinstance(table, list) and part.isdigit() and int(part) < len(table):
            table = table[int(part)]
        else:
            return None
    return table
