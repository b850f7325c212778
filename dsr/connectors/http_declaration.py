"""Checking a `kind = "http"` declaration at start-up (README, "Connected systems"). Nothing connects.

The reading endpoints (`[systems.locate]` and each `[[systems.collections]]`) share one shape: `method`
(GET or POST), `path`, `params`, `body` (a JSON template, POST only), `items` (dotted path to the list,
or to the one object with `single = true`), `not_found` (statuses meaning "nothing here") and
`pagination` (none, next_url, cursor, page, offset) with its settings.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from dsr.connectors import declaration, http_auth
from dsr.connectors.base import DeclarationError
from dsr.connectors.holds import read_holds
from dsr.connectors.http_shapes import PLACEHOLDER, check_json_template, placeholders

PAGINATION = ("none", "next_url", "cursor", "page", "offset")
READ_METHODS = ("GET", "POST")
LOCATE_VALUES = {"email", "email_md5", "phone"}
_VAR_VALUE = re.compile(r"^[A-Za-z0-9_.@:+\-]{1,200}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]{1,200}$")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_HEADERS = {"authorization", "host", "content-length", "cookie", "transfer-encoding"}


def check_base_url(value: Any, key: str) -> None:
    if not isinstance(value, str):
        raise DeclarationError(key, "must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise DeclarationError(key, "must be an http(s) URL without query or fragment")


def read_vars(settings: Mapping[str, Any]) -> dict[str, str]:
    """`vars = { list_id = "..." }`: values of this installation used as {var:name} in paths and bodies."""
    table = declaration.need_table(settings, "vars")
    for name, value in table.items():
        if not _PLAIN.match(name):
            raise DeclarationError(f"vars.{name}", "must be a plain name (letters, digits and _)")
        if not isinstance(value, str) or not _VAR_VALUE.match(value):
            raise DeclarationError(f"vars.{name}", "must be a string of letters, digits and _ . @ : + -")
    return dict(table)


def check_vars_used(template: Any, key: str, variables: Mapping[str, str]) -> None:
    for name in placeholders(template):
        if name.startswith("var:") and name[4:] not in variables:
            raise DeclarationError(key, f"{{{name}}} names no entry of vars (declared: {sorted(variables) or 'none'})")


def validate(settings: dict[str, Any]) -> None:
    """Every setting of an http system; DeclarationError names the key."""
    check_base_url(settings.get("base_url"), "base_url")
    declaration.need_str(settings, "base_url_env", optional=True)
    http_auth.read_auth(settings)
    variables = read_vars(settings)
    headers = declaration.need_table(settings, "headers")
    for name, value in headers.items():
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS \
                or not isinstance(value, str) or not _HEADER_VALUE.match(value):
            raise DeclarationError(f"headers.{name}", "must be a plain header (not Authorization, Host, Cookie, "
                                   "...) with a printable value")
    declaration.need_number(settings, "rate_limit", 10.0, maximum=1000)
    declaration.need_number(settings, "max_concurrency", 4, maximum=64)
    declaration.need_number(settings, "busy_retries", 3, minimum=-1, maximum=10)
    declaration.need_number(settings, "max_retry_after", 30, maximum=600)
    declaration.need_number(settings, "connect_timeout", 5.0, maximum=120)
    declaration.need_number(settings, "read_timeout", 30.0, maximum=600)
    declaration.need_number(settings, "max_response_bytes", 10_000_000)
    declaration.need_number(settings, "max_pages", 1000)
    locate = declaration.need_table(settings, "locate", optional=False)
    check_endpoint(locate, "locate.", LOCATE_VALUES, variables)
    declaration.need_str(locate, "key", prefix="locate.")
    email_field = locate.get("email_field")
    if email_field is not None and not (isinstance(email_field, str) and email_field) and not (
            isinstance(email_field, list) and email_field and all(isinstance(f, str) and f for f in email_field)):
        raise DeclarationError("locate.email_field", "must be a field (dotted path), or a list of them")
    declaration.need_str(locate, "phone_field", prefix="locate.", optional=True)
    holds = read_holds(settings)
    names: list[str] = []
    for index, entry in enumerate(declaration.need_list_of_tables(settings, "collections", optional=True)):
        prefix = f"collections[{index}]."
        name = declaration.need_identifier(entry, "name", prefix=prefix, pattern=declaration.COLLECTION)
        if name in names:
            raise DeclarationError(prefix + "name", f"collection {name!r} is declared twice")
        parent = entry.get("parent")
        if parent is not None and parent not in names:
            raise DeclarationError(prefix + "parent", "must name a collection declared above this one")
        check_endpoint(entry, prefix, None if parent else {"key"}, variables)
        declaration.collection_rules(entry, prefix=prefix)  # record_key, portable, the fields' origins
        declaration.read_default_origin(entry, prefix=prefix)
        if not isinstance(entry.get("emit", True), bool):
            raise DeclarationError(prefix + "emit", "must be true or false (false: walked, not exported)")
        declaration.need_str(entry, "flatten", prefix=prefix, optional=True)
        _check_hold(entry, prefix, holds)
        names.append(name)
    declaration.validate_translated_facts(settings)


def _check_hold(entry: dict, prefix: str, holds: Mapping[str, Any]) -> None:
    """`hold` (a declared hold's key), `hold_date_field` (the date its period counts from; an indefinite
    hold needs none) and `keeps_record` (default true: while the hold keeps these, the located record they
    belong to is kept too, e.g. a customer with invoices; false: the record goes, these stay, e.g. a
    company shared with other contacts)."""
    hold = entry.get("hold")
    if hold is None:
        for name in ("hold_date_field", "keeps_record"):
            if entry.get(name) is not None:
                raise DeclarationError(prefix + name, "is for a collection under a hold")
        return
    if hold not in holds:
        raise DeclarationError(prefix + "hold", f"names no declared hold (declared: {sorted(holds) or 'none'})")
    if not holds[hold].indefinite:
        declaration.need_str(entry, "hold_date_field", prefix=prefix)
    if not isinstance(entry.get("keeps_record", True), bool):
        raise DeclarationError(prefix + "keeps_record", "must be true or false")


def check_endpoint(entry: dict, prefix: str, allowed: set[str] | None, variables: Mapping[str, str]) -> None:
    """A reading endpoint. `allowed`: the placeholders it may hold besides {var:...} (None: any plain name,
    a child collection's parent fields)."""
    path = declaration.need_str(entry, "path", prefix=prefix)
    if not path.startswith("/") or "//" in path or ".." in path:
        raise DeclarationError(prefix + "path", "must be a path under the base URL, starting with /")

    def usable(name: str) -> bool:
        if name.startswith("var:"):
            return name[4:] in variables
        return _PLAIN.match(name) is not None and (allowed is None or name in allowed)

    def refuse(key: str, problem: str) -> DeclarationError:
        usable_here = sorted(allowed) if allowed is not None else "the parent item's fields"
        return DeclarationError(key, f"{problem} (use {usable_here} or {{var:<name>}} of vars)")

    for name in PLACEHOLDER.findall(path):
        if not usable(name):
            raise refuse(prefix + "path", f"{{{name}}} is not available here")
    params = declaration.need_table(entry, "params", prefix=prefix)
    if not all(isinstance(v, str | int) for v in params.values()):
        raise DeclarationError(prefix + "params", "values must be strings or numbers")
    check_json_template(params, prefix + "params", usable, refuse)
    method = entry.get("method", "GET")
    if method not in READ_METHODS:
        raise DeclarationError(prefix + "method", f"must be one of {list(READ_METHODS)} to read")
    if entry.get("body") is not None:
        if method != "POST" or not isinstance(entry["body"], dict):
            raise DeclarationError(prefix + "body", "is a table (a JSON object) sent with method = \"POST\"")
        check_json_template(entry["body"], prefix + "body", usable, refuse)
    declaration.need_str(entry, "items", prefix=prefix, optional=True)
    if not isinstance(entry.get("single", False), bool):
        raise DeclarationError(prefix + "single", "must be true (the answer is one object) or false")
    not_found = entry.get("not_found", [])
    if not isinstance(not_found, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                  and 400 <= s < 500 and s not in (401, 408, 429)
                                                  for s in not_found):
        raise DeclarationError(prefix + "not_found", "must list 4xx statuses meaning \"nothing here\" (e.g. [404])")
    check_pagination(entry, prefix)


def check_pagination(entry: dict, prefix: str) -> None:
    pagination = entry.get("pagination", "none")
    if pagination not in PAGINATION:
        raise DeclarationError(prefix + "pagination", f"must be one of {list(PAGINATION)}")
    if entry.get("single") and pagination != "none":
        raise DeclarationError(prefix + "pagination", "a single-object answer has no pages")
    if pagination in ("next_url", "cursor"):
        declaration.need_str(entry, "next_field", prefix=prefix)
    if pagination == "cursor":
        declaration.need_str(entry, "cursor_param", prefix=prefix)
    if pagination == "page":
        declaration.need_str(entry, "page_param", prefix=prefix, optional=True)
    if pagination == "offset":
        declaration.need_str(entry, "offset_param", prefix=prefix, optional=True)
        declaration.need_str(entry, "limit_param", prefix=prefix, optional=True)
        declaration.need_str(entry, "total_field", prefix=prefix, optional=True)
        declaration.need_number(entry, "limit", 100, prefix=prefix, maximum=10_000)
