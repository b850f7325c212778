"""`kind = "ga4"`: Google Analytics 4, which knows a visitor only by the client id in the `_ga` cookie.

There is no lookup by e-mail and no API to read one visitor's events, so: the request form asks for the
client id (only while a ga4 system is declared; dsr.intake.details says how to find it), `locate` takes
it from there (the subject's own statement: it is used for nothing else), the export holds that identifier,
and erasure is the user-deletion API:

    POST https://analyticsadmin.googleapis.com/v1alpha/properties/{property}:submitUserDeletion
    {"clientId": "<client id>"}  ->  200 {"deletionRequestTime": "..."}

(Admin API reference, "properties.submitUserDeletion"; auth: a service account with the
analytics.edit scope, dsr.connectors.http_auth). Google deletes asynchronously, so the proof is that the
request was accepted; it cannot be looked at again.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from dsr.connectors import by_hand, declaration, http_action_declaration, http_auth, http_declaration
from dsr.connectors.base import (
    Action,
    Change,
    DeclarationError,
    Identity,
    Origin,
    Plan,
    Proof,
    Record,
    SubjectRef,
)
from dsr.connectors.http import HttpConnector
from dsr.connectors.registry import kind

IDENTIFIER = "ga_client_id"
COLLECTION = "client_id"
#: "GA1.1.1234567890.1700000000" (the cookie) or "1234567890.1700000000" (the client id)
_CLIENT_ID = re.compile(r"^(?:GA\d\.\d+\.)?(\d{1,20}\.\d{1,20})$")


def client_id(value: Any) -> str | None:
    """The client id in what a visitor copied from the `_ga` cookie (or the id itself), None if it is neither."""
    match = _CLIENT_ID.match(value.strip()) if isinstance(value, str) else None
    return match.group(1) if match else None


@kind("ga4")
class Ga4Connector(HttpConnector):
    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        http_declaration.check_base_url(settings.get("base_url"), "base_url")
        declaration.need_str(settings, "base_url_env", optional=True)
        if http_auth.read_auth(settings) is None:
            raise DeclarationError("auth", "is required (kind = \"google_service_account\")")
        variables = http_declaration.read_vars(settings)
        if not variables.get("property_id", "").isdigit():
            raise DeclarationError("vars.property_id", "must be the GA4 property's number (Admin > Property details)")
        for name in ("locate", "collections"):
            if name in settings:
                raise DeclarationError(name, "a ga4 system has none: it is found by the client id the form asks for")
        if "erase" not in http_action_declaration.read_declaration(settings).endpoints:
            raise DeclarationError("actions.erase", "is required (the user-deletion call)")
        by_hand.read_by_hand(settings, None)
        declaration.validate_translated_facts(settings)

    def locate(self, identity: Identity) -> SubjectRef:
        ref = SubjectRef(system_key=self.key)
        found = client_id(identity.identifiers.get(IDENTIFIER))
        if found:
            ref.keys["key"] = [found]
        return ref

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        for key in ref.keys.get("key", []):
            yield Record(COLLECTION, {"client_id": key, "property": f"properties/{self.variables['property_id']}"},
                         {"client_id": Origin.OBSERVED, "property": Origin.OBSERVED})

    def collections(self) -> list[str]:
        return [COLLECTION]

    def identifiers_asked(self) -> tuple[str, ...]:
        return (IDENTIFIER,)

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any], today: date) -> Plan:
        if action is not Action.ERASE:
            return super().plan(ref, action, details, today)
        plan = Plan(system_key=self.key, action=action.value)
        for key in ref.keys.get("key", []):
            plan.changes.append(Change(COLLECTION, "call", 1, keys=[key], text=self.actions_of.declared.text("erase")
                                       + ": Google deletes the visits recorded under this client id"))
        return plan

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        """Apply raises unless every deletion request was accepted; what Google then does is out of sight."""
        keys = sorted(str(key) for change in plan.changes for key in change.keys)
        digest = hashlib.sha256(f"{plan.action}:{','.join(keys)}:accepted".encode()).hexdigest()
        return Proof(ok=True, found={COLLECTION: 0}, digest=digest)
