"""Reading `[systems.actions]`, `rectify` and `[[systems.processing]]` of an http system (the calls are
made by dsr.connectors.http_actions).

Each action is one call `{ method, path, body, expect, shows }`, or for erase a list of calls made in
order (Zendesk deletes a user, then deletes the deleted user for good). A path stays under the base URL
and holds `{key}` (the located record, one URL-safe segment) unless the body names the record with
"{key}" (or, to unsubscribe, with "{email}"); `{var:<name>}` takes a value of `vars`. An erase step with
`each = "<collection>"` is made once per record of that collection found under the located one, its path
holding that record's fields (`/tickets/{id}`). Segments are letters, digits and `_ - . ~ :` (never
`..`, `//`, `%`, `?`, `#`, a leading dot or colon).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsr.connectors import declaration
from dsr.connectors.base import Action, DeclarationError, Processing
from dsr.connectors.http_declaration import read_vars
from dsr.connectors.http_shapes import PLACEHOLDER, check_json_template, placeholders

ENDPOINTS: dict[str, Action] = {"erase": Action.ERASE, "update": Action.RECTIFY, "restrict": Action.RESTRICT,
                                "lift_restriction": Action.LIFT_RESTRICTION, "unsubscribe": Action.STOP}
BY_ACTION = {action: name for name, action in ENDPOINTS.items()}
METHODS = ("DELETE", "POST", "PATCH", "PUT")
SETTINGS = ("method", "path", "body", "expect", "shows", "each")
DEFAULT_EXPECT = (200, 201, 202, 204)
PROCESSING_SETTINGS = {"key", "name", "name_nb", "bases"}
_SEGMENT = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9_.~:-]*$")


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    expect: frozenset[int]
    shows: dict[str, Any]
    each: str | None = None  # a collection: one call per record of it found under the located one

    @property
    def text(self) -> str:
        return f"{self.method} {self.path}" + (f" for each of {self.each}" if self.each else "")


@dataclass(frozen=True)
class Declared:
    endpoints: dict[str, tuple[Endpoint, ...]]  # an action's calls, in order
    rectify: tuple[str, ...]
    processing: list[Processing]

    def text(self, name: str) -> str:
        return ", then ".join(step.text for step in self.endpoints[name])


def read_declaration(settings: Mapping[str, Any]) -> Declared:
    """DeclarationError names the key."""
    rectify = _read_rectify(settings)
    variables = read_vars(settings)
    collections = [c.get("name") for c in settings.get("collections") or [] if isinstance(c, dict)]
    table = declaration.need_table(settings, "actions")
    if "update" in table and not rectify:
        raise DeclarationError("actions.update", "needs rectify = [fields], the fields it may change")
    endpoints: dict[str, tuple[Endpoint, ...]] = {}
    for name, entry in table.items():
        if name not in ENDPOINTS:
            raise DeclarationError(f"actions.{name}", f"is not an action (one of {list(ENDPOINTS)})")
        if isinstance(entry, list) and name == "erase" and entry:
            endpoints[name] = tuple(_read_endpoint(name, step, rectify, variables, f"actions.{name}[{index}].",
                                                   collections) for index, step in enumerate(entry))
        else:
            endpoints[name] = (_read_endpoint(name, entry, rectify, variables, f"actions.{name}.", collections),)
    if rectify and "update" not in endpoints:
        raise DeclarationError("rectify", "needs [systems.actions] update, the call that changes them")
    processing = declaration.read_processing(settings)
    for index, (_, entry) in enumerate(processing):
        extra = set(entry) - PROCESSING_SETTINGS
        if extra:
            raise DeclarationError(f"processing[{index}].{min(extra)}", "is not a setting of an http system's "
                                   "processing (key, name, name_nb, bases): the unsubscribe call stops it")
    if "unsubscribe" in endpoints and not processing:
        raise DeclarationError("actions.unsubscribe", "stops nothing named: declare what it stops in "
                               "[[systems.processing]]")
    return Declared(endpoints, rectify, [item for item, _ in processing])


def _read_rectify(settings: Mapping[str, Any]) -> tuple[str, ...]:
    value = settings.get("rectify")
    if value is None:
        return ()
    if not isinstance(value, list) or not value or len(set(map(str, value))) != len(value) \
            or not all(isinstance(v, str) and declaration.IDENTIFIER.match(v) for v in value):
        raise DeclarationError("rectify", "must list the fields update may change (plain names, each once)")
    return tuple(value)


def _read_endpoint(name: str, entry: Any, rectify: tuple[str, ...], variables: Mapping[str, str],
                   prefix: str, collections: list[str]) -> Endpoint:
    if not isinstance(entry, dict):
        raise DeclarationError(prefix.rstrip("."), "must be a table { method, path, body, expect }"
                               + (" or, for erase, a list of them" if name == "erase" else ""))
    unknown = set(entry) - set(SETTINGS)
    if unknown:
        raise DeclarationError(prefix + min(unknown), f"is not a setting of an action ({', '.join(SETTINGS)})")
    method = entry.get("method")
    if method not in METHODS:
        raise DeclarationError(prefix + "method", f"must be one of {list(METHODS)}")
    path = declaration.need_str(entry, "path", prefix=prefix)
    names = PLACEHOLDER.findall(path)
    each = entry.get("each")
    if each is not None and (name != "erase" or each not in collections):
        raise DeclarationError(prefix + "each", f"is for erase steps, naming a declared collection ({collections})")
    for placeholder in names:
        if placeholder.startswith("var:") and placeholder[4:] in variables:
            continue
        if placeholder != "key" and not (each and "." not in placeholder and ":" not in placeholder):
            raise DeclarationError(prefix + "path", f"{{{placeholder}}} is not available in a path (only {{key}} "
                                   "and {var:<name>} of vars; an e-mail address goes in the body)")
    body = entry.get("body")
    named = placeholders(body) if isinstance(body, dict) else set()
    if not each and "key" not in names and "key" not in named and not (name == "unsubscribe" and "email" in named):
        raise DeclarationError(prefix + "path", "must name the record with {key} (or the body must)")
    segments = path.split("/")
    if segments[0] or not all(_SEGMENT.match(PLACEHOLDER.sub("x", s)) for s in segments[1:]):
        raise DeclarationError(prefix + "path", "must stay under the base URL: /segment/{key}/..., each segment "
                               "letters, digits, _ - . ~ : (no .., //, %, ?, # or leading . or :)")
    if body is not None:
        if not isinstance(body, dict):
            raise DeclarationError(prefix + "body", "must be a table (a JSON object)")
        fields = rectify if name == "update" else ()

        def allowed(placeholder: str) -> bool:
            return placeholder in ("email", "key") or (placeholder.startswith("value:") and placeholder[6:] in fields) \
                or (placeholder.startswith("var:") and placeholder[4:] in variables)

        def refuse(key: str, problem: str) -> DeclarationError:
            usable = "{email}, {key}, {var:<name>}" + (f" or {{value:<field>}} of {list(fields)}" if fields else "")
            return DeclarationError(key, f"{problem} (use {usable})")

        check_json_template(body, prefix + "body", allowed, refuse)
        if name == "update":
            sent = set(PLACEHOLDER.findall(json.dumps(body)))
            absent = [f for f in rectify if f"value:{f}" not in sent]
            if absent:  # else a planned change would silently never be sent
                raise DeclarationError(prefix + "body", f"has no {{value:{absent[0]}}}: every rectify field "
                                       "must be in the update body")
    expect = entry.get("expect", list(DEFAULT_EXPECT))
    if not isinstance(expect, list) or not expect or not all(_means_done(status) for status in expect):
        raise DeclarationError(prefix + "expect", "must list the HTTP statuses that mean done (2xx, or a 4xx such "
                               "as 404; never 3xx, 408, 429 or 5xx)")
    shows = declaration.need_table(entry, "shows", prefix=prefix)
    if shows and name in ("erase", "update"):
        raise DeclarationError(prefix + "shows", "is for restrict, lift_restriction and unsubscribe (erase is "
                               "checked by the record being gone, update by its new values)")
    if not all(isinstance(v, str | int | float) for v in shows.values()):
        raise DeclarationError(prefix + "shows", "values must be strings, numbers or booleans")
    return Endpoint(name, method, path, body, frozenset(expect), dict(shows), each)


def _means_done(status: Any) -> bool:
    """A status an API may answer for "done": 2xx or 4xx (404 on an erase: already gone), never a redirect
    (not followed), a server error or a status that asks to retry."""
    if isinstance(status, bool) or not isinstance(status, int):
        return False
    return 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429))
