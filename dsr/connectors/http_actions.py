"""What a `kind = "http"` system does besides exporting: erase, rectify, restrict and lift, and stop its
declared processing, each through the calls declared in `[systems.actions]` (read by
dsr.connectors.http_action_declaration; README, "Connected systems").

A plan holds one change per located key (frozen at planning); apply makes exactly those calls (an
erase's steps in order), paced and bounded by the transport, never following a redirect; proof looks the
subject up again by the e-mail addresses the lookup found. An erasure keeps a record whose collections
hold something under a legal hold (`hold` on a collection, Tripletex's invoices): the plan shows it as
kept, with the ground and the date, and makes no call for it; the follow-up erasure comes when the hold
ends.

Apply is idempotent: a 404 on an erase step counts as already done, and a record that already shows the
result (update: the new values; restrict, lift_restriction, unsubscribe: their `shows` fields, dotted
paths allowed) gets no call. Errors name the system, the action and the HTTP status, never a URL, a key
or a value.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dsr.connectors import contacts
from dsr.connectors.base import (
    Action,
    Change,
    Identity,
    Kept,
    PermanentConnectorError,
    Plan,
    Proof,
    Record,
    SubjectRef,
)
from dsr.connectors.http_action_declaration import BY_ACTION, ENDPOINTS, Endpoint, read_declaration
from dsr.connectors.http_shapes import render_body, value_at

if TYPE_CHECKING:  # the connector class imports this module
    from dsr.connectors.http import HttpConnector

__all__ = ["RECORD", "HttpActions", "render_body"]

#: the located record (what `key` names) in plans, proofs and rectification values
RECORD = "customer"
DONE = {Action.RECTIFY: "updated", Action.RESTRICT: "restricted", Action.LIFT_RESTRICTION: "released",
        Action.STOP: "unsubscribed"}


class HttpActions:
    def __init__(self, connector: HttpConnector):
        self.connector = connector
        self.declared = read_declaration(connector.settings)

    def actions(self) -> frozenset[Action]:
        found = {ENDPOINTS[name] for name in self.declared.endpoints}
        if not self.declared.processing:
            found.discard(Action.STOP)
        return frozenset(found)

    # ------------------------------------------------------------------ plan

    def plan(self, ref: SubjectRef, action: Action, details: Mapping[str, Any], today: date) -> Plan:
        plan = Plan(system_key=self.connector.key, action=action.value)
        name = BY_ACTION[action]
        steps = self.declared.endpoints[name]
        values: dict[str, Any] = {}
        text = self.declared.text(name)
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
        for key in ref.keys.get("key", []):
            for step in steps:
                self._body(step, ref, key, values)  # a template it cannot fill fails now, not at apply
            count, note = 1, text
            if action is Action.ERASE:
                records = list(self.connector.export(SubjectRef(self.connector.key, keys={"key": [key]})))
                kept = self._kept(key, records, today)
                plan.kept.extend(kept)
                if any(k.collection == RECORD for k in kept):
                    continue  # the record stays while a hold keeps what belongs to it
                # What the export finds under the key: the record's own data the call takes with it.
                staying = {k.collection for k in kept}
                found = Counter(record.collection for record in records if record.collection not in staying)
                count += sum(found.values())
                if found:
                    note += (f": the {RECORD} record and what the export finds under it ("
                             + ", ".join(f"{n} {collection}" for collection, n in found.items()) + ")")
            plan.changes.append(Change(RECORD, "call", count, fields=sorted(values), keys=[key], values=dict(values),
                                       text=note))
        return plan

    def _kept(self, key: Any, records: list[Record], today: date) -> list[Kept]:
        """What a hold keeps under one located record: its held collections, and the record itself (the
        held records are its own, e.g. a customer's invoices). Nothing when no hold covers anything now."""
        holds = self.connector.holds
        kept: list[Kept] = []
        keeping: list[Kept] = []  # what keeps the record itself
        for spec in self.connector.collection_specs:
            if not spec.get("hold"):
                continue
            hold = holds[spec["hold"]]
            untils: list[date | None] = []
            for record in records:
                if record.collection == spec["name"]:
                    dated = _date(value_at(record.data, spec["hold_date_field"])) if spec.get("hold_date_field") \
                        else None
                    until = hold.retain_until(dated) if dated is not None else None  # undated: kept, no end
                    if until is None or until >= today:
                        untils.append(until)
            if untils:
                until = None if None in untils else max(untils)
                kept.append(Kept(spec["name"], len(untils), hold.key, hold.ground,
                                 until.isoformat() if until else None, keys=[key]))
                if spec.get("keeps_record", True):
                    keeping.append(kept[-1])
        if keeping:
            latest = max(keeping, key=lambda k: (k.until is None, k.until or ""))
            kept.insert(0, Kept(RECORD, 1, latest.hold, latest.ground, latest.until, keys=[key]))
        return kept

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
        fills = {"key": key, **{f"value:{name}": value for name, value in values.items()},
                 **{f"var:{name}": value for name, value in self.connector.variables.items()}}
        if ref.emails:
            fills["email"] = ref.emails[0]
        try:
            return render_body(endpoint.body, fills)
        except LookupError as missing:
            why = "no e-mail address is on file" if missing.args[0] == "email" \
                else "this rectification does not change it"
            raise PermanentConnectorError(f"system {self.connector.key} cannot fill {{{missing.args[0]}}} in the "
                                          f"{endpoint.name} body: {why}") from None

    # ------------------------------------------------------------------ apply

    def apply(self, ref: SubjectRef, plan: Plan) -> int:
        action = Action(plan.action)
        steps = self.declared.endpoints.get(BY_ACTION[action])
        calls = [change for change in plan.changes if change.operation == "call"]
        if not calls:
            return 0
        if steps is None:
            raise PermanentConnectorError(f"system {self.connector.key} no longer declares its "
                                          f"{BY_ACTION[action]} endpoint")
        done: set[Any] = set()
        if action is not Action.ERASE:  # an erase already done answers 404
            records = self.read(ref, [key for change in calls for key in change.keys], self._new_emails(calls))
            done = {key for change in calls for key in change.keys
                    if key in records and self._shows(records[key], self._expected(steps[-1], change))}
        changed = 0
        for change in calls:
            for key in change.keys:
                if key not in done:
                    changed += self._steps(steps, ref, key, change.values)
        return changed

    def _steps(self, steps: tuple[Endpoint, ...], ref: SubjectRef, key: Any, values: Mapping[str, Any]) -> int:
        """An action's calls for one located record, in order; 1 if any of them changed something."""
        each = {step.each for step in steps if step.each}
        items: dict[str, list[dict[str, Any]]] = {name: [] for name in each}
        if each:  # read before any call: a first step may hide them from the listing (a soft delete)
            for record in self.connector.export(SubjectRef(self.connector.key, keys={"key": [key]})):
                if record.collection in items:
                    items[record.collection].append(record.data)
        changed = 0
        for step in steps:
            for item in (items[step.each] if step.each else [{}]):
                changed = max(changed, self._call(step, ref, key, values, item))
        return changed

    def _expected(self, endpoint: Endpoint | None, change: Change) -> dict[str, Any]:
        """What the record shows once the call is done (nothing to check: an empty dict)."""
        if endpoint is None:
            return {}
        return dict(change.values) if endpoint.name == "update" else dict(endpoint.shows)

    def _shows(self, item: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
        return bool(expected) and all(self._same(name, value_at(item, name), value)
                                      for name, value in expected.items())

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

    def _call(self, endpoint: Endpoint, ref: SubjectRef, key: Any, values: Mapping[str, Any],
              item: Mapping[str, Any]) -> int:
        connector = self.connector
        url = connector.url(endpoint.path, {**item, "key": key}, endpoint.name)
        dots = any(segment in (".", "..") for segment in urlsplit(url).path.split("/"))
        if dots or not connector.transport.within_base(url):  # a key such as ".." is URL-safe, yet climbs
            raise PermanentConnectorError(f"system {connector.key} gave a key that would take {endpoint.name} "
                                          "outside the base URL")
        body = self._body(endpoint, ref, key, values)
        accept = endpoint.expect | ({404} if endpoint.name == "erase" else set())
        status, _ = connector.transport.send(endpoint.method, url, body=body, what=endpoint.name, accept=accept)
        if endpoint.name == "erase" and status == 404:
            return 0  # already gone: a repeated erase
        return 1

    # ------------------------------------------------------------------ prove

    def read(self, ref: SubjectRef, keys: list[Any], extra_emails: Iterable[str] = ()) -> dict[Any, dict[str, Any]]:
        """The records with these keys, as the lookup by the ref's e-mail addresses answers them now."""
        spec = self.connector.settings["locate"]
        wanted = {key for key in keys if isinstance(key, str | int)}
        found: dict[Any, dict[str, Any]] = {}
        for email in dict.fromkeys([*ref.emails, *extra_emails]):
            for item in self.connector.lookup_items(Identity(email=email), exact=False):
                key = value_at(item, spec["key"])
                if isinstance(key, str | int) and not isinstance(key, bool) and key in wanted:
                    found.setdefault(key, item)
        return found

    def prove(self, ref: SubjectRef, plan: Plan) -> Proof:
        """Erase: looked up again by the ref's e-mail addresses, nothing is found but what a hold keeps. The
        others: each planned record is still found and shows the result (update: the new values; restrict,
        lift_restriction, unsubscribe: their `shows` fields; without `shows`, only that it is still there)."""
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
            located -= {key for kept in plan.kept if kept.collection == RECORD for key in kept.keys}
            found = {RECORD: len(located)}
            if located:
                problems.append(f"{RECORD}: {len(located)} record(s) of the subject still found after the erase")
        else:
            records = self.read(ref, keys, self._new_emails(calls))
            found = {RECORD: len(records)}
            missing = len(set(keys) - set(records))
            if missing and ref.emails:
                problems.append(f"{RECORD}: {missing} record(s) no longer found")
            steps = self.declared.endpoints.get(BY_ACTION[action])
            wrong = 0
            for change in calls:
                expected = self._expected(steps[-1] if steps else None, change)
                wrong += sum(1 for key in change.keys
                             if key in records and expected and not self._shows(records[key], expected))
            if wrong:
                problems.append(f"{RECORD}: {wrong} record(s) not {DONE[action]} as planned")
        digest = hashlib.sha256(json.dumps([plan.action, found, sorted(map(str, keys)), problems],
                                           sort_keys=True).encode()).hexdigest()
        return Proof(ok=not problems, found=found, problems=problems, digest=digest)


def _date(value: Any) -> date | None:
    """An ISO date (or the date of an ISO instant) from an answer; None when there is none."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
