"""The shapes of an http system's answers and requests: dotted paths into JSON, values that may become a
path segment, and JSON body templates with placeholders.

A dotted path ("paging.next.after", "value.0.hits") walks objects by key and lists by index; a key that
itself holds dots (Graph's "@odata.nextLink") is matched whole first. `values_at` also walks through
lists ("toRecipients.emailAddress.address" gives every recipient's address).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

PLACEHOLDER = re.compile(r"\{([A-Za-z_@][A-Za-z0-9_.@]*(?::[A-Za-z_][A-Za-z0-9_]*)?)\}")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:=\-]{1,256}$")  # ids, Graph's base64 ones too
DOT_SEGMENTS = (".", "..")
_MISSING = object()


def usable_value(value: Any) -> bool:
    """A value the remote side gave that may become one path segment or parameter."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return bool(SAFE_VALUE.match(str(value))) and str(value) not in DOT_SEGMENTS


def path_segments(path: str) -> list[str] | None:
    """The percent-decoded segments of a URL path, or None when one could move the path elsewhere
    (a dot segment, or a "/" or "\\" hidden by percent-encoding): those are refused, not resolved."""
    segments = []
    for raw in path.split("/"):
        segment = unquote(raw)
        if segment in DOT_SEGMENTS or "/" in segment or "\\" in segment:
            return None
        if segment:
            segments.append(segment)
    return segments


def value_at(document: Any, path: str | None, default: Any = None) -> Any:
    """The value at a dotted path (the document itself for an empty path), or `default`."""
    if not path:
        return document
    found = _walk(document, path)
    return default if found is _MISSING else found


def _walk(document: Any, path: str) -> Any:
    if isinstance(document, Mapping) and path in document:
        return document[path]
    for index, char in enumerate(path):
        if char != ".":
            continue
        head, rest = path[:index], path[index + 1:]
        if isinstance(document, Mapping) and head in document:
            found = _walk(document[head], rest)
            if found is not _MISSING:
                return found
        elif isinstance(document, list) and head.isdigit() and int(head) < len(document):
            return _walk(document[int(head)], rest)
    if isinstance(document, list) and path.isdigit() and int(path) < len(document):
        return document[int(path)]
    return _MISSING


def values_at(document: Any, path: str) -> list[Any]:
    """Every value at a dotted path, walking through the lists met on the way."""
    if isinstance(document, list):
        return [value for item in document for value in values_at(item, path)]
    if not isinstance(document, Mapping):
        return []
    if path in document:
        found = document[path]
        return list(found) if isinstance(found, list) else [found]
    head, _, rest = path.partition(".")
    if not rest or head not in document:
        return []
    return values_at(document[head], rest)


def set_at(body: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in a JSON body, making the objects on the way (a cursor in a search body)."""
    *heads, last = path.split(".")
    target = body
    for head in heads:
        target = target.setdefault(head, {})
        if not isinstance(target, dict):
            raise ValueError(path)
    target[last] = value


def items_of(document: Any, path: str | None, single: bool) -> list[dict[str, Any]] | None:
    """The objects an answer holds at `path`: a list of objects, or one object when `single`; None for
    any other shape."""
    value = value_at(document, path)
    if single:
        return [value] if isinstance(value, dict) else None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return None


def render_body(template: Any, fills: Mapping[str, Any]) -> Any:
    """The JSON body from its template. A string that is one placeholder becomes the value itself (a
    number stays a number); a member that is one unfilled "{value:...}" is left out. LookupError names
    a placeholder that has no value."""
    def fill(name: str) -> Any:
        if name not in fills:
            raise LookupError(name)
        return fills[name]

    def unfilled_value(item: Any) -> bool:
        whole = PLACEHOLDER.fullmatch(item) if isinstance(item, str) else None
        return bool(whole) and whole.group(1).startswith("value:") and whole.group(1) not in fills

    if isinstance(template, dict):
        return {name: render_body(item, fills) for name, item in template.items() if not unfilled_value(item)}
    if isinstance(template, list):
        return [render_body(item, fills) for item in template]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return fill(whole.group(1))
    return PLACEHOLDER.sub(lambda match: str(fill(match.group(1))), template)


def placeholders(template: Any) -> set[str]:
    """Every placeholder name in a JSON template (or a string)."""
    if isinstance(template, dict):
        return {name for item in template.values() for name in placeholders(item)}
    if isinstance(template, list):
        return {name for item in template for name in placeholders(item)}
    return set(PLACEHOLDER.findall(template)) if isinstance(template, str) else set()


def check_json_template(value: Any, key: str, allowed, error) -> None:
    """A body template holds only JSON values, and placeholders for which `allowed(name)` is true;
    `error(key, problem)` builds the exception (a DeclarationError)."""
    if isinstance(value, dict | list):
        for item in (value.values() if isinstance(value, dict) else value):
            check_json_template(item, key, allowed, error)
    elif isinstance(value, str):
        for name in PLACEHOLDER.findall(value):
            if not allowed(name):
                raise error(key, f"{{{name}}} is not available here")
    elif not isinstance(value, bool | int | float):
        raise error(key, "must hold only strings, numbers, booleans, tables and arrays (JSON)")
