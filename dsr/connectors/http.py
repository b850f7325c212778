"""`kind = "http"`: a JSON REST API (CRM, newsletter tool, support chat, accounting), described by endpoints.

Everything the remote side sends is untrusted: answers are size-capped, must be JSON of the declared
shape (a list of objects at `items`, or one object with `single = true`), requests never leave the base
URL (dsr.connectors.http_transport: redirects and next-page links are checked segment by segment), a
lookup answer is the subject's only when one of its e-mail fields equals the verified address, and a
value from an answer becomes a path segment only when it is plainly safe. Requests are paced, bounded
in number at once, and wait out 429 and 503 answers within limits. Credentials come from environment
variables (dsr.connectors.http_auth). Error messages name the system, the collection and the status,
never a URL (a lookup URL carries the subject's address).

Reading endpoints may GET or POST a JSON body template (`{email}`, `{email_md5}` — the MD5 of the
lower-cased address, Mailchimp's subscriber hash — `{key}`, a parent item's `{field}`, `{var:<name>}`)
and page by next URL, cursor (in the query or the body), page number, or offset and limit. Erasure,
rectification, restriction and stopping a processing go through `[systems.actions]`
(dsr.connectors.http_actions); what the system cannot do goes to a person with `[systems.by_hand]`.
"""
from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import date
from itertools import islice
from typing import Any
from urllib.parse import quote, urljoin

from dsr.connectors import by_hand, contacts, declaration, http_action_declaration, http_declaration
from dsr.connectors.base import (
    Action,
    CollectionRules,
    Connector,
    Identity,
    PermanentConnectorError,
    Plan,
    Processing,
    Proof,
    Record,
    SubjectRef,
)
from dsr.connectors.holds import Hold, read_holds
from dsr.connectors.http_actions import RECORD, HttpActions
from dsr.connectors.http_auth import make_auth, read_auth
from dsr.connectors.http_shapes import (
    PLACEHOLDER,
    items_of,
    render_body,
    set_at,
    usable_value,
    value_at,
    values_at,
)
from dsr.connectors.http_transport import Transport
from dsr.connectors.registry import kind

_VAR = re.compile(r"\{var:([A-Za-z_][A-Za-z0-9_]*)\}")


@kind("http")
class HttpConnector(Connector):
    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        http_declaration.validate(settings)
        http_action_declaration.read_declaration(settings)
        by_hand.read_by_hand(settings, [c["name"] for c in settings.get("collections", [])])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        s = self.settings
        self.max_pages = int(s.get("max_pages", 1000))
        self.region = s.get("phone_region", "NO")
        self.collection_specs: list[dict[str, Any]] = s.get("collections", [])
        self.variables: dict[str, str] = dict(s.get("vars", {}))
        self.holds: dict[str, Hold] = read_holds(s)
        self.by_hand = by_hand.read_by_hand(s, [c["name"] for c in self.collection_specs])
        auth = make_auth(self.key, read_auth(s), self.context.environ, self.fill_vars)
        self.transport = Transport(
            self.key, s, lambda: self.base_url, auth,
            connect_timeout=float(s.get("connect_timeout", self.context.connect_timeout)),
            read_timeout=float(s.get("read_timeout", self.context.read_timeout)))
        self.actions_of = HttpActions(self)

    @property
    def base_url(self) -> str:
        variable = self.settings.get("base_url_env")
        url = (self.context.environ.get(variable) if variable else None) or self.settings["base_url"]
        return url.rstrip("/")

    def fill_vars(self, text: str) -> str:
        return _VAR.sub(lambda match: quote(self.variables[match.group(1)], safe="@"), text)

    def url(self, path: str, values: Mapping[str, Any], what: str) -> str:
        """The URL of a path whose placeholders take values from an answer (checked) or vars (declared)."""
        def fill(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("var:"):
                return quote(self.variables[name[4:]], safe="@")
            value = values.get(name)
            if not usable_value(value):
                raise PermanentConnectorError(f"system {self.key} gave an unusable {name} for {what}")
            return quote(str(value), safe="")

        return self.base_url + PLACEHOLDER.sub(fill, path)

    # ------------------------------------------------------------------ reading

    def _fills(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**values, **{f"var:{name}": value for name, value in self.variables.items()}}

    def _pages(self, spec: dict, values: dict[str, Any], what: str, url: str | None = None) -> Iterator[dict]:
        """The items of one reading endpoint, page after page (at most max_pages)."""
        url = url or self.url(spec["path"], values, what)
        fills = self._fills(values)
        try:
            params: dict[str, Any] | None = {k: render_body(v, fills) for k, v in spec.get("params", {}).items()}
            body = render_body(copy.deepcopy(spec["body"]), fills) if spec.get("body") is not None else None
        except LookupError as missing:
            raise PermanentConnectorError(f"system {self.key} gave no {missing.args[0]} for {what}") from None
        method = spec.get("method", "GET")
        style = spec.get("pagination", "none")
        page = int(spec.get("first_page", 1))
        offset, limit = 0, int(spec.get("limit", 100))
        not_found = frozenset(spec.get("not_found", ()))

        def place(name: str, value: Any) -> None:  # in the search body of a POST, else in the query
            if body is not None:
                set_at(body, name, value)
            elif params is not None:
                params[name] = value

        if style == "page":
            place(spec.get("page_param", "page"), page)
        if style == "offset":
            place(spec.get("offset_param", "offset"), offset)
            place(spec.get("limit_param", "limit"), limit)
        for _ in range(self.max_pages):
            status, document = self.transport.document(method, url, params=params, body=body, what=what,
                                                       accept=not_found)
            if status in not_found:
                return
            items = items_of(document, spec.get("items"), bool(spec.get("single")))
            if items is None:
                shape = "one object" if spec.get("single") else "a list of objects"
                raise PermanentConnectorError(f"system {self.key} answered {what} in an unexpected shape "
                                              f"(expected {shape})")
            yield from items
            if style == "none":
                return
            if style == "page":
                if not items:
                    return
                page += 1
                place(spec.get("page_param", "page"), page)
                continue
            if style == "offset":
                offset += len(items)
                total = value_at(document, spec.get("total_field")) if spec.get("total_field") else None
                if len(items) < limit or (isinstance(total, int) and offset >= total):
                    return
                place(spec.get("offset_param", "offset"), offset)
                continue
            following = value_at(document, spec["next_field"])
            if following in (None, ""):
                return
            if not isinstance(following, str | int) or isinstance(following, bool):
                raise PermanentConnectorError(f"system {self.key} sent an unusable next page for {what}")
            if style == "next_url":
                nxt = urljoin(url, str(following))
                if not self.transport.within_base(nxt):
                    raise PermanentConnectorError(f"system {self.key} pointed the next page of {what} at "
                                                  "another host or outside its base URL; not followed")
                url, params = nxt, None
            else:
                place(spec["cursor_param"], following)
        raise PermanentConnectorError(f"system {self.key} returned more than max_pages pages of {what}")

    def lookup_items(self, identity: Identity, exact: bool = True) -> Iterator[dict[str, Any]]:
        """The lookup's answer items; `exact`: only those whose e-mail field holds the verified address."""
        spec = self.settings["locate"]
        email = contacts.normalise_email(identity.email) or ""
        if not email and exact:
            return  # the answers are matched on the e-mail: without one, nobody can be found here
        values = {"email": email, "phone": identity.phone or "",
                  "email_md5": hashlib.md5(email.encode()).hexdigest()}  # noqa: S324 (Mailchimp's id, not security)
        url = self.base_url + PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1), ""), safe=""),
                                              self.fill_vars(spec["path"]))
        fields = spec.get("email_field", "email")
        for item in self._pages(spec, values, "lookup", url=url):
            if exact:
                found = {contacts.normalise_email(v) for f in ([fields] if isinstance(fields, str) else fields)
                         for v in values_at(item, f)}
                if not email or email not in found:
                    continue  # a fuzzy search, or a record without the address, must not hand us someone else
            yield item

    def locate(self, identity: Identity) -> SubjectRef:
        spec = self.settings["locate"]
        ref = SubjectRef(system_key=self.key)
        keys = ref.keys.setdefault("key", [])
        for item in self.lookup_items(identity):
            key = value_at(item, spec["key"])
            if not usable_value(key):
                raise PermanentConnectorError(f"system {self.key} answered the lookup without a usable key")
            if key not in keys:
                keys.append(key)
            contacts.add_unique(ref.emails, contacts.normalise_email(identity.email))
            if spec.get("phone_field"):
                contacts.add_unique(ref.phones, contacts.normalise_phone(value_at(item, spec["phone_field"]),
                                                                         self.region))
        return ref

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        top = [c for c in self.collection_specs if not c.get("parent")]
        for key in ref.keys.get("key", []):
            for spec in top:
                yield from self._walk(spec, {"key": key})

    def _walk(self, spec: dict, values: dict[str, Any]) -> Iterator[Record]:
        name = spec["name"]
        origins = declaration.read_origins(spec.get("fields"), "fields")
        default = declaration.read_default_origin(spec)
        children = [c for c in self.collection_specs if c.get("parent") == name]
        flatten = spec.get("flatten")
        for item in self._pages(spec, values, name):
            if spec.get("emit", True):
                data = item
                if flatten and isinstance(item.get(flatten), dict):  # HubSpot's "properties": fields of their own
                    data = {**{k: v for k, v in item.items() if k != flatten}, **item[flatten]}
                yield Record(name, data, {k: origins.get(k, default) for k in data})
            for child in children:
                yield from self._walk(child, item)

    def collections(self) -> list[str]:
        return [c["name"] for c in self.collection_specs if c.get("emit", True)]

    def collection_rules(self) -> dict[str, CollectionRules]:
        return {c["name"]: declaration.collection_rules(c, default_key="id") for c in self.collection_specs}

    # ------------------------------------------------------------------ actions (dsr.connectors.http_actions)

    def actions(self) -> frozenset[Action]:
        return self.actions_of.actions()

    def processing(self) -> list[Processing]:
        return list(self.actions_of.declared.processing)

    def rectifiable(self) -> dict[str, list[str]]:
        rectify = list(self.actions_of.declared.rectify)
        return {RECORD: rectify} if rectify else {}

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any], today: date) -> Plan:
        if action in self.actions():
            return self.actions_of.plan(ref, action, details, today)
        return super().plan(ref, action, details, today)

    def apply(self, ref: SubjectRef, plan: Plan) -> int:
        return self.actions_of.apply(ref, plan)

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        return self.actions_of.prove(ref, plan)

    def steps_by_hand(self, ref: SubjectRef, action: Action) -> list[str]:
        entry = self.by_hand.get(action)
        if entry is None:
            return []
        steps = list(entry["steps"])
        if entry.get("list"):
            records = islice((r for r in self.export(ref) if r.collection == entry["list"]), by_hand.MAX_LINES + 1)
            lines = [by_hand.render_line(entry["item"], record.data) for record in records]
            if len(lines) > by_hand.MAX_LINES:
                lines[-1] = f"… and more: search the system for the rest (only {by_hand.MAX_LINES} are listed)"
            steps += lines or [f"Nothing of the subject was found in {entry['list']} just now."]
        return steps

    def close(self) -> None:
        self.transport.close()
