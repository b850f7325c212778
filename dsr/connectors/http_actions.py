"""What a `kind = "http"` system does besides exporting: erase, rectify, restrict and lift, and stop its
declared processing, each through an endpoint declared in `[systems.actions]` (README, "Connected
systems"; instance/systems.example.toml declares them all for the demo chat).

A plan holds one call per located key (frozen at planning); apply makes exactly those calls, paced by
the rate limit, never following a redirect; proof looks the subject up again by the e-mail addresses
the lookup found. A path holds `{key}` only (a URL-safe segment: an e-mail address belongs in a body,
not in a URL that lands in access logs), must name the record (no call acts on a whole collection) and
stays under the base URL. A body is a JSON template ("{email}", "{key}", for update "{value:<field>}").

Apply is idempotent: a 404 on erase counts as already gone, and a record that already shows the result
(update: the new values; restrict, lift_restriction, unsubscribe: their `shows` fields) gets no call.
Errors name the system, the action and the HTTP status, never a URL, a key or a value.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from dsr.connectors import contacts, declaration
from dsr.connectors.base import (
    Action,
    Change,
    ConnectorError,
    DeclarationError,
    Identity,
    PermanentConnectorError,
    Plan,
    Processing,
    Proof,
    SubjectRef,
)

if TYPE_CHECKING:  # the connector class imports this module
    from dsr.connectors.http import HttpConnector

ENDPOINTS: dict[str, Action] = {"erase": Action.ERASE, "update": Action.RECTIFY, "restrict": Action.RESTRICT,
                                "lift_restriction": Action.LIFT_RESTRICTION, "unsubscribe": Action.STOP}
BY_ACTION = {action: name for name, action in ENDPOINTS.items()}
METHODS = ("DELETE", "POST", "PATCH", "PUT")
SETTINGS = ("method", "path", "body", "expect", "shows")
DEFAULT_EXPECT = (200, 201, 202, 204)
PROCESSING_SETTINGS = {"key", "name", "name_nb", "bases"}
#: the located record (what `key` names) in plans, proofs and rectification values
RECORD = "customer"
DONE = {Action.RECTIFY: "updated", Action.RESTRICT: "restricted", Action.LIFT_RESTRICTION: "released",
        Action.STOP: "unsubscribed"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z_][A-Za-z0-9_]*)?)\}")
_SEGMENT = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9_.~-]*$")


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    expect: frozenset[int]
    shows: dict[str, Any]

    @property
    def text(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Declared:
    endpoints: dict[str, Endpoint]
    rectify: tuple[str, ...]
    processing: list[Processing]


# ---------------------------------------------------------------------- declaration

def read_declaration(settings: Mapping[str, Any]) -> Declared:
    """`[systems.actions]`, `rectify` and `[[systems.processing]]`; DeclarationError names the key."""
    rectify = _read_rectify(settings)
    table = declaration.need_table(settings, "actions")
    if "update" in table and not rectify:
        raise DeclarationError("actions.update", "needs rectify = [fields], the fields it may change")
    endpoints: dict[str, Endpoint] = {}
    for name, entry in table.items():
        if name not in ENDPOINTS:
            raise DeclarationError(f"actions.{name}", f"is not an action (one of {list(ENDPOINTS)})")
        endpoints[name] = _read_endpoint(name, entry, rectify)
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


def _read_endpoint(name: str, entry: Any, rectify: tuple[str, ...]) -> Endpoint:
    prefix = f"actions.{name}."
    if not isinstance(entry, dict):
        raise DeclarationError(f"actions.{name}", "must be a table { method, path, body, expect }")
    unknown = set(entry) - set(SETTINGS)
    if unknown:
        raise DeclarationError(prefix + min(unknown), f"is not a setting of an action ({', '.join(SETTINGS)})")
    method = entry.get("method")
    if method not in METHODS:
        raise DeclarationError(prefix + "method", f"must be one of {list(METHODS)}")
    path = declaration.need_str(entry, "path", prefix=prefix)
    names = _PLACEHOLDER.findall(path)
    for placeholder in names:
        if placeholder != "key":
            raise DeclarationError(prefix + "path", f"{{{placeholder}}} is not available in a path (only {{key}}; "
                                   "an e-mail address goes in the body)")
    if "key" not in names:
        raise DeclarationError(prefix + "path", "must name the record with {key}")
    segments = path.split("/")
    if segments[0] or not all(_SEGMENT.match(_PLACEHOLDER.sub("key", s)) for s in segments[1:]):
        raise DeclarationError(prefix + "path", "must stay under the base URL: /segment/{key}/..., each segment "
                               "letters, digits, _ - . ~ (no .., //, %, ?, # or leading .)")
    body = entry.get("body")
    if body is not None:
        if not isinstance(body, dict):
            raise DeclarationError(prefix + "body", "must be a table (a JSON object)")
        _check_body(body, prefix + "body", rectify if name == "update" else ())
        if name == "update":
            sent = set(_PLACEHOLDER.findall(json.dumps(body)))
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
    return Endpoint(name, method, path, body, frozenset(expect), dict(shows))


def _means_done(status: Any) -> bool:
    """A status an API may answer for "done": 2xx or 4xx (404 on an erase: already gone), never a redirect
    (not followed), a server error or a status that asks to retry."""
    if isinstance(status, bool) or not isinstance(status, int):
        return False
    return 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429))


def _check_body(value: Any, key: str, fields: tuple[str, ...]) -> None:
    if isinstance(value, dict | list):
        for item in (value.values() if isinstance(value, dict) else value):
            _check_body(item, key, fields)
    elif isinstance(value, str):
        for name in _PLACEHOLDER.findall(value):
            if name not in ("email", "key") and not (name.startswith("value:") and name[6:] in fields):
                usable = "{email}, {key}" + (f" or {{value:<field>}} of {list(fields)}" if fields else "")
                raise DeclarationError(key, f"{{{name}}} is not available here (use {usable})")
    elif not isinstance(value, bool | int | float):
        raise DeclarationError(key, "must hold only strings, numbers, booleans, tables and arrays (JSON)")


def render_body(template: Any, fills: Mapping[str, Any]) -> Any:
    """The JSON body from its template. A string that is one placeholder becomes the value itself (a
    number stays a number); a member that is one unfilled "{value:...}" is left out. LookupError names
    a placeholder that has no value."""
    def fill(name: str) -> Any:
        if name not in fills:
            raise LookupError(name)
        return fills[name]

    def unfilled_value(item: Any) -> bool:
        whole = _PLACEHOLDER.fullmatch(item) if isinstance(item, str) else None
        return bool(whole) and whole.group(1).startswith("value:") and whole.group(1) not in fills

    if isinstance(template, dict):
        return {name: render_body(item, fills) for name, item in template.items() if not unfilled_value(item)}
    if isinstance(template, list):
        return [render_body(item, fills) for item in template]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return fill(whole.group(1))
    return _PLACEHOLDER.sub(lambda match: str(fill(match.group(1))), template)


# ---------------------------------------------------------------------- plan, apply, prove

class HttpActions:
    def __init__(self, connector: HttpConnector):
        self.connector = connector
        self.declared = read_declaration(connector.settings)

    def actions(self) -> frozenset[Action]:
        found = {ENDPOINTS[name] for name in self.declared.endpoints}
        if not self.declared.processing:
            found.discard(Action.STOP)
        return frozenset(found)

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any]) -> Plan:
        plan = Plan(system_key=self.connector.key, action=action.value)
        endpoint = self.declared.endpoints[BY_ACTION[action]]
        keys = list(ref.keys.get("key", []))
        values: dict[str, Any] = {}
        text = endpoint.text
        if action is Action.RECTIFY:
            values = self._rectification(details.get("values") or {})
            if not values:
                return plan
            text += ": " + ", ".join(sorted(values))
        elif action is Action.STOP:
            known = [processing.key for processing in self.declared.processing]
            if not set(details.get("processing") or ()) & set(known):
                return plan
            text += ": stops " + ", ".join(known)  # one call stops every processing declared here
        for key in keys:
            self._body(endpoint, ref, key, values)  # a template it cannot fill fails now, not at apply
            count, note = 1, text
            if action is Action.ERASE:
                # What the export finds under the key: the record's own data the call takes with it.
                found = Counter(record.collection for record in
                                self.connector.export(SubjectRef(self.connector.key, keys={"key": [key]})))
                count += sum(found.values())
                if found:
                    note += (f": the {RECORD} record and what the export finds under it ("
                             + ", ".join(f"{n} {collection}" for collection, n in found.items()) + ")")
            plan.changes.append(Change(RECORD, "call", count, fields=sorted(values), keys=[key], values=dict(values),
                                       text=note))
        return plan

    def _rectification(self, values: Mapping[str, Any]) -> dict[str, Any]:
        wanted: dict[str, Any] = {}
        for collection, fields in values.items():
            if collection != RECORD or not isinstance(fields, Mapping):
                raise PermanentConnectorError(f"system {self.connector.key} rectifies only its {RECORD} record")
            refused = set(fields) - set(self.declared.rectify)
            if refused:
                raise PermanentConnectorError(f"{RECORD}.{min(refused)} may not be rectified")
            for name, value in fields.items():
                if value is not None and not isinstance(value, str | int | float):
                    raise PermanentConnectorError(f"the new value of {RECORD}.{name} is not a plain value")
                wanted[name] = value
        return wanted

    def _body(self, endpoint: Endpoint, ref: SubjectRef, key: Any, values: Mapping[str, Any]) -> Any:
        if endpoint.body is None:
            return dict(values) if endpoint.name == "update" else None
        fills = {"key": key, **{f"value:{name}": value for name, value in values.items()}}
        if ref.emails:
            fills["email"] = ref.emails[0]
        try:
            return render_body(endpoint.body, fills)
        except LookupError as missing:
            why = "no e-mail address is on file" if missing.args[0] == "email" \
                else "this rectification does not change it"
            raise PermanentConnectorError(f"system {self.connector.key} cannot fill {{{missing.args[0]}}} in the "
                                          f"{endpoint.name} body: {why}") from None

    def apply(self, ref: SubjectRef, plan: Plan) -> int:
        action = Action(plan.action)
        endpoint = self.declared.endpoints.get(BY_ACTION[action])
        calls = [change for change in plan.changes if change.operation == "call"]
        if not calls:
            return 0
        if endpoint is None:
            raise PermanentConnectorError(f"system {self.connector.key} no longer declares its "
                                          f"{BY_ACTION[action]} endpoint")
        done: set[Any] = set()
        if action is not Action.ERASE:  # an erase already done answers 404
            records = self.read(ref, [key for change in calls for key in change.keys], self._new_emails(calls))
            done = {key for change in calls for key in change.keys
                    if key in records and self._shows(records[key], self._expected(endpoint, change))}
        changed = 0
        for change in calls:
            for key in change.keys:
                if key not in done:
                    changed += self._call(endpoint, ref, key, change.values)
        return changed

    def _expected(self, endpoint: Endpoint | None, change: Change) -> dict[str, Any]:
        """What the record shows once the call is done (nothing to check: an empty dict)."""
        if endpoint is None:
            return {}
        return dict(change.values) if endpoint.name == "update" else dict(endpoint.shows)

    def _shows(self, item: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
        return bool(expected) and all(self._same(name, item.get(name), value) for name, value in expected.items())

    def _same(self, name: str, found: Any, wanted: Any) -> bool:
        """Equal, or the same address or phone number written another way (an API may normalise them)."""
        if found == wanted:
            return True
        spec = self.connector.settings["locate"]
        if name == spec.get("email_field", "email"):
            return contacts.normalise_email(wanted) is not None \
                and contacts.normalise_email(found) == contacts.normalise_email(wanted)
        if name == spec.get("phone_field"):
            region = self.connector.region
            return contacts.normalise_phone(wanted, region) is not None \
                and contacts.normalise_phone(found, region) == contacts.normalise_phone(wanted, region)
        return False

    @staticmethod
    def _new_emails(calls: list[Change]) -> list[str]:
        """A rectified address: the record is found under it afterwards."""
        return [email for change in calls if (email := contacts.normalise_email(change.values.get("email")))]

    def _call(self, endpoint: Endpoint, ref: SubjectRef, key: Any, values: Mapping[str, Any]) -> int:
        connector = self.connector
        url = connector._url(endpoint.path, {"key": key}, endpoint.name)
        dots = any(segment in (".", "..") for segment in urlsplit(url).path.split("/"))
        if dots or not connector._within_base(url):  # a key such as ".." is URL-safe, yet climbs
            raise PermanentConnectorError(f"system {connector.key} gave a key that would take {endpoint.name} "
                                          "outside the base URL")
        body = self._body(endpoint, ref, key, values)
        connector._pace()
        try:
            with connector.client().stream(endpoint.method, url, json=body) as response:
                status = response.status_code
        except httpx.TimeoutException as exc:
            raise ConnectorError(f"system {connector.key} timed out on {endpoint.name} ({type(exc).__name__})") \
                from None
        except httpx.HTTPError as exc:
            raise ConnectorError(f"system {connector.key} unreachable on {endpoint.name} ({type(exc).__name__})") \
                from None
        if endpoint.name == "erase" and status == 404:
            return 0  # already gone: a repeated erase
        if status in endpoint.expect:
            return 1
        connector._check_status(status, endpoint.name)
        raise PermanentConnectorError(f"system {connector.key} answered {endpoint.name} with unexpected HTTP {status}")

    def read(self, ref: SubjectRef, keys: list[Any], extra_emails: Iterable[str] = ()) -> dict[Any, dict[str, Any]]:
        """The records with these keys, as the lookup by the ref's e-mail addresses answers them now."""
        connector = self.connector
        spec = connector.settings["locate"]
        wanted = {key for key in keys if isinstance(key, str | int)}
        found: dict[Any, dict[str, Any]] = {}
        for email in dict.fromkeys([*ref.emails, *extra_emails]):
            values = {"email": email, "phone": ""}
            params = {name: _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), str(value))
                      for name, value in spec.get("params", {}).items()}
            url = connector.base_url + _PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1), ""), safe=""),
                                                        spec["path"])
            for item in connector._items(connector.get_json(url, params, "lookup"), spec.get("items"), "lookup"):
                key = item.get(spec["key"])
                if isinstance(key, str | int) and not isinstance(key, bool) and key in wanted:
                    found.setdefault(key, item)
        return found

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        """Erase: looked up again by the ref's e-mail addresses, nothing is found. The others: each planned
        record is still found and shows the result (update: the new values; restrict, lift_restriction,
        unsubscribe: their `shows` fields; without `shows`, only that the record is still there)."""
        action = Action(plan.action)
        calls = [change for change in plan.changes if change.operation == "call"]
        keys = [key for change in calls for key in change.keys]
        problems: list[str] = []
        if calls and not ref.emails:
            problems.append(f"{RECORD}: no e-mail address on file to look the subject up again")
        if action is Action.ERASE:
            located: set[Any] = set()
            for email in ref.emails:
                located |= set(self.connector.locate(Identity(email=email)).keys.get("key", []))
            found = {RECORD: len(located)}
            if located:
                problems.append(f"{RECORD}: {len(located)} record(s) of the subject still found after the erase")
        else:
            records = self.read(ref, keys, self._new_emails(calls))
            found = {RECORD: len(records)}
            missing = len(set(keys) - set(records))
            if missing and ref.emails:
                problems.append(f"{RECORD}: {missing} record(s) no longer found")
            endpoint = self.declared.endpoints.get(BY_ACTION[action])
            wrong = 0
            for change in calls:
                expected = self._expected(endpoint, change)
                wrong += sum(1 for key in change.keys
                             if key in records and expected and not self._shows(records[key], expected))
            if wrong:
                problems.append(f"{RECORD}: {wrong} record(s) not {DONE[action]} as planned")
        digest = hashlib.sha256(json.dumps([plan.action, found, sorted(map(str, keys)), problems],
                                           sort_keys=True).encode()).hexdigest()
        return Proof(ok=not problems, found=found, problems=problems, digest=digest)
