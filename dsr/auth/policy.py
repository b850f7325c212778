"""Deny by default: every endpoint declares who may reach it, and undeclared endpoints answer 404.

A view is marked with a policy decorator (`@public`, or a staff policy from the staff area);
`enforce` runs before every request and asks the endpoint's policy. An endpoint without a
policy is refused at run time and fails `unmapped_endpoints()`, which a test walks over the
whole URL map, so a forgotten decorator can never expose a page.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, abort, current_app, request

from dsr.audit.service import missing_in_production

_ATTRIBUTE = "_dsr_policy"
_ALWAYS_ALLOWED = {"static"}


@dataclass(frozen=True)
class Policy:
    """`name` is shown in the endpoint table; `check()` returns None to let the request through,
    or a response (a redirect to the login page, a 403) to answer instead."""

    name: str
    check: Callable[[], Any]


PUBLIC = Policy("public", lambda: None)


def with_policy(policy: Policy) -> Callable:
    def mark(view: Callable) -> Callable:
        setattr(view, _ATTRIBUTE, policy)
        return view

    return mark


public = with_policy(PUBLIC)


def policy_of(app: Flask, endpoint: str) -> Policy | None:
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    # Class-based views keep attributes on the class behind `view_class`.
    return getattr(view, _ATTRIBUTE, None) or getattr(getattr(view, "view_class", None), _ATTRIBUTE, None)


def unmapped_endpoints(app: Flask) -> list[str]:
    return sorted(endpoint for endpoint in app.view_functions
                  if endpoint not in _ALWAYS_ALLOWED and policy_of(app, endpoint) is None)


def enforce():
    endpoint = request.endpoint
    if endpoint is None or endpoint in _ALWAYS_ALLOWED:
        return None  # routing failed (the 404/405 handler answers) or a static file
    policy = policy_of(current_app, endpoint)
    if policy is None:
        current_app.logger.error("endpoint %s has no access policy; refused", endpoint)
        abort(404)
    return policy.check()


def _refuse_without_audit_key():
    # Every staff action and every step of a request is audited: in production, nothing is served
    # until the key that seals the audit chain is configured (like a weak DSR_SECRET_KEY).
    if missing_in_production(current_app):
        return Response("This portal is not configured: set DSR_AUDIT_KEY (the urlsafe base64 of 32 random "
                        "bytes, kept outside the database) before serving in production.\n", status=503,
                        mimetype="text/plain")
    return None


def init_app(app: Flask) -> None:
    app.before_request(_refuse_without_audit_key)
    app.before_request(enforce)
