"""`kind = "http"`: a JSON REST API (CRM, newsletter tool, support chat), described by endpoints.

Everything the remote side sends is untrusted: answers are size-capped (`max_response_bytes`),
must be JSON of the declared shape (a list of objects at `items`), redirects are followed only
within the base URL's origin and path (never to another host), pagination links must stay there
too (paths are compared segment by segment after percent-decoding; a "." or ".." segment, or a
"/" or "\\" hidden in one, is refused rather than resolved), a lookup answer is the subject's only
when its e-mail field equals the verified address, and requests are paced (`rate_limit` per second)
with connect/read timeouts. The auth header's value comes from an environment variable named in the
declaration, never from the file. Error messages name the system, the collection and the status,
never a URL (a lookup URL carries the subject's address). Erasure, rectification, restriction and
stopping a processing go through the endpoints declared in `[systems.actions]`
(dsr.connectors.http_actions).
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

from dsr.connectors import contacts, declaration, http_actions
from dsr.connectors.base import (
    Action,
    Connector,
    ConnectorError,
    DeclarationError,
    Identity,
    PermanentConnectorError,
    Plan,
    Processing,
    Proof,
    Record,
    SubjectRef,
)
from dsr.connectors.registry import kind

PAGINATION = ("none", "next_url", "cursor", "page")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DOT_SEGMENTS = (".", "..")


def _usable_value(value: Any) -> bool:
    """A value the remote side gave that may become one path segment or parameter."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return bool(_SAFE_VALUE.match(str(value))) and str(value) not in _DOT_SEGMENTS


def path_segments(path: str) -> list[str] | None:
    """The percent-decoded segments of a URL path, or None when one could move the path elsewhere
    (a dot segment, or a "/" or "\\" hidden by percent-encoding): those are refused, not resolved."""
    segments = []
    for raw in path.split("/"):
        segment = unquote(raw)
        if segment in _DOT_SEGMENTS or "/" in segment or "\\" in segment:
            return None
        if segment:
            segments.append(segment)
    return segments


def _check_base_url(value: Any, key: str) -> None:
    if not isinstance(value, str):
        raise DeclarationError(key, "must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise DeclarationError(key, "must be an http(s) URL without query or fragment")


def _check_endpoint(entry: dict, prefix: str, allowed: set[str] | None) -> None:
    path = declaration.need_str(entry, "path", prefix=prefix)
    if not path.startswith("/") or "//" in path or ".." in path:
        raise DeclarationError(prefix + "path", "must be a path under the base URL, starting with /")
    for name in _PLACEHOLDER.findall(path):
        if allowed is not None and name not in allowed:
            raise DeclarationError(prefix + "path", f"{{{name}}} is not available here (use {sorted(allowed)})")
    params = declaration.need_table(entry, "params", prefix=prefix)
    if not all(isinstance(v, str | int) for v in params.values()):
        raise DeclarationError(prefix + "params", "values must be strings or numbers")
    declaration.need_str(entry, "items", prefix=prefix, optional=True)


@kind("http")
class HttpConnector(Connector):
    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        _check_base_url(settings.get("base_url"), "base_url")
        declaration.need_str(settings, "base_url_env", optional=True)
        if settings.get("auth_header") is not None or settings.get("auth_env") is not None:
            declaration.need_str(settings, "auth_header")
            declaration.need_str(settings, "auth_env")
            declaration.need_str(settings, "auth_scheme", optional=True)
        declaration.need_number(settings, "rate_limit", 10.0, maximum=1000)
        declaration.need_number(settings, "connect_timeout", 5.0, maximum=120)
        declaration.need_number(settings, "read_timeout", 30.0, maximum=600)
        declaration.need_number(settings, "max_response_bytes", 10_000_000)
        declaration.need_number(settings, "max_pages", 1000)
        locate = declaration.need_table(settings, "locate", optional=False)
        _check_endpoint(locate, "locate.", {"email", "phone"})
        declaration.need_str(locate, "key", prefix="locate.")
        for name in ("email_field", "phone_field"):
            declaration.need_str(locate, name, prefix="locate.", optional=True)
        collections = declaration.need_list_of_tables(settings, "collections")
        names: list[str] = []
        for index, entry in enumerate(collections):
            prefix = f"collections[{index}]."
            name = declaration.need_identifier(entry, "name", prefix=prefix, pattern=declaration.COLLECTION)
            if name in names:
                raise DeclarationError(prefix + "name", f"collection {name!r} is declared twice")
            parent = entry.get("parent")
            if parent is not None and parent not in names:
                raise DeclarationError(prefix + "parent", "must name a collection declared above this one")
            _check_endpoint(entry, prefix, None if parent else {"key"})
            pagination = entry.get("pagination", "none")
            if pagination not in PAGINATION:
                raise DeclarationError(prefix + "pagination", f"must be one of {list(PAGINATION)}")
            if pagination in ("next_url", "cursor"):
                declaration.need_str(entry, "next_field", prefix=prefix)
            if pagination == "cursor":
                declaration.need_str(entry, "cursor_param", prefix=prefix)
            declaration.read_origins(entry.get("fields"), prefix + "fields")
            declaration.read_default_origin(entry, prefix=prefix)
            names.append(name)
        declaration.validate_translated_facts(settings)
        http_actions.read_declaration(settings)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        s = self.settings
        self.rate_interval = 1.0 / float(s.get("rate_limit", 10))
        self.max_bytes = int(s.get("max_response_bytes", 10_000_000))
        self.max_pages = int(s.get("max_pages", 1000))
        self.region = s.get("phone_region", "NO")
        self.collection_specs = s["collections"]
        self._client: httpx.Client | None = None
        self._last_request = 0.0
        self._lock = threading.Lock()
        self.actions_of = http_actions.HttpActions(self)

    # ------------------------------------------------------------------ transport

    @property
    def base_url(self) -> str:
        variable = self.settings.get("base_url_env")
        url = (self.context.environ.get(variable) if variable else None) or self.settings["base_url"]
        return url.rstrip("/")

    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"Accept": "application/json", "User-Agent": "dsr-portal"}
            if self.settings.get("auth_header"):
                value = self.context.environ.get(self.settings["auth_env"])
                if not value:
                    raise PermanentConnectorError(f"the variable {self.settings['auth_env']} holding the API "
                                                  f"credential of system {self.key} is not set")
                scheme = self.settings.get("auth_scheme")
                headers[self.settings["auth_header"]] = f"{scheme} {value}" if scheme else value
            timeout = httpx.Timeout(connect=float(self.settings.get("connect_timeout", self.context.connect_timeout)),
                                    read=float(self.settings.get("read_timeout", self.context.read_timeout)),
                                    write=10.0, pool=10.0)
            self._client = httpx.Client(headers=headers, timeout=timeout, follow_redirects=False, trust_env=False)
        return self._client

    def _within_base(self, url: str) -> bool:
        base, target = urlsplit(self.base_url), urlsplit(url)
        same_origin = (target.scheme, target.hostname, target.port) == (base.scheme, base.hostname, base.port)
        base_segments, target_segments = path_segments(base.path), path_segments(target.path)
        if not same_origin or base_segments is None or target_segments is None:
            return False
        return target_segments[:len(base_segments)] == base_segments  # "/api/v1-admin" is not under "/api/v1"

    def _pace(self) -> None:
        with self._lock:
            wait = self._last_request + self.rate_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    def get_json(self, url: str, params: dict[str, Any] | None, what: str) -> Any:
        """GET one document, following redirects within the base URL only; `what` names it in errors."""
        if not self._within_base(url):
            raise PermanentConnectorError(f"system {self.key}: the {what} request would go "
                                          "outside its base URL; not sent")
        for _hop in range(5):
            self._pace()
            try:
                with self.client().stream("GET", url, params=params) as response:
                    if response.is_redirect:
                        location = urljoin(url, response.headers.get("location", ""))
                        if not self._within_base(location):
                            raise PermanentConnectorError(
                                f"system {self.key} redirected the {what} request to another host or "
                                "outside its base URL; not followed")
                        url, params = location, None
                        continue
                    self._check_status(response.status_code, what)
                    body = self._read_capped(response, what)
            except httpx.TimeoutException as exc:
                raise ConnectorError(f"system {self.key} timed out on {what} ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise ConnectorError(f"system {self.key} unreachable on {what} ({type(exc).__name__})") from None
            try:
                return json.loads(body)
            except ValueError:
                raise ConnectorError(f"system {self.key} answered {what} with malformed JSON") from None
        raise PermanentConnectorError(f"system {self.key} redirected the {what} request too often")

    def _check_status(self, status: int, what: str) -> None:
        if status in (408, 429) or status >= 500:
            raise ConnectorError(f"system {self.key} answered {what} with HTTP {status}")
        if status >= 400:
            raise PermanentConnectorError(f"system {self.key} refused {what} with HTTP {status}")
        if status != 200:
            raise PermanentConnectorError(f"system {self.key} answered {what} with unexpected HTTP {status}")

    def _read_capped(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise PermanentConnectorError(f"system {self.key} sent a {what} answer over the size cap")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise PermanentConnectorError(f"system {self.key} sent a {what} answer over the size cap")
        return bytes(body)

    # ------------------------------------------------------------------ shapes

    def _items(self, document: Any, path: str | None, what: str) -> list[dict[str, Any]]:
        value = document
        for part in (path.split(".") if path else []):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise PermanentConnectorError(f"system {self.key} answered {what} in an unexpected shape "
                                          "(expected a list of objects)")
        return value

    def _url(self, path: str, values: dict[str, Any], what: str) -> str:
        def fill(match: re.Match) -> str:
            value = values.get(match.group(1))
            if not _usable_value(value):
                raise PermanentConnectorError(f"system {self.key} gave an unusable {match.group(1)} for {what}")
            return quote(str(value), safe="")

        return self.base_url + _PLACEHOLDER.sub(fill, path)

    # ------------------------------------------------------------------ contract

    def locate(self, identity: Identity) -> SubjectRef:
        spec = self.settings["locate"]
        email = contacts.normalise_email(identity.email)
        values = {"email": email or "", "phone": identity.phone or ""}
        params = {k: _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), str(v))
                  for k, v in spec.get("params", {}).items()}
        url = self.base_url + _PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), spec["path"])
        ref = SubjectRef(system_key=self.key)
        keys = ref.keys.setdefault("key", [])
        for item in self._items(self.get_json(url, params, "lookup"), spec.get("items"), "lookup"):
            found_email = contacts.normalise_email(item.get(spec.get("email_field", "email")))
            if not email or found_email != email:
                continue  # a fuzzy search, or a record without the address, must not hand us someone else
            key = item.get(spec["key"])
            if not _usable_value(key):
                raise PermanentConnectorError(f"system {self.key} answered the lookup without a usable key")
            if key not in keys:
                keys.append(key)
            contacts.add_unique(ref.emails, found_email)
            if spec.get("phone_field"):
                contacts.add_unique(ref.phones, contacts.normalise_phone(item.get(spec["phone_field"]), self.region))
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
        for item in self._pages(spec, values):
            yield Record(name, item, {k: origins.get(k, default) for k in item})
            for child in children:
                yield from self._walk(child, item)

    def _pages(self, spec: dict, values: dict[str, Any]) -> Iterator[dict[str, Any]]:
        what = spec["name"]
        url = self._url(spec["path"], values, what)
        params: dict[str, Any] = dict(spec.get("params", {}))
        style = spec.get("pagination", "none")
        page = int(spec.get("first_page", 1))
        if style == "page":
            params[spec.get("page_param", "page")] = page
        for _ in range(self.max_pages):
            document = self.get_json(url, params, what)
            items = self._items(document, spec.get("items"), what)
            yield from items
            if style == "none":
                return
            if style == "page":
                if not items:
                    return
                page += 1
                params[spec.get("page_param", "page")] = page
                continue
            following = document.get(spec["next_field"]) if isinstance(document, dict) else None
            if following in (None, ""):
                return
            if not isinstance(following, str | int):
                raise PermanentConnectorError(f"system {self.key} sent an unusable next page for {what}")
            if style == "next_url":
                nxt = urljoin(url, str(following))
                if not self._within_base(nxt):
                    raise PermanentConnectorError(f"system {self.key} pointed the next page of {what} at "
                                                  "another host or outside its base URL; not followed")
                url, params = nxt, None
            else:
                params[spec["cursor_param"]] = following
        raise PermanentConnectorError(f"system {self.key} returned more than max_pages pages of {what}")

    def collections(self) -> list[str]:
        return [c["name"] for c in self.collection_specs]

    # ------------------------------------------------------------------ actions (dsr.connectors.http_actions)

    def actions(self) -> frozenset[Action]:
        return self.actions_of.actions()

    def processing(self) -> list[Processing]:
        return list(self.actions_of.declared.processing)

    def rectifiable(self) -> dict[str, list[str]]:
        rectify = list(self.actions_of.declared.rectify)
        return {http_actions.RECORD: rectify} if rectify else {}

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any], today: date) -> Plan:
        if action in self.actions():
            return self.actions_of.plan(ref, action, details)
        return super().plan(ref, action, details, today)

    def apply(self, ref: SubjectRef, plan: Plan) -> int:
        return self.actions_of.apply(ref, plan)

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        return self.actions_of.prove(ref, plan)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
