"""HubSpot CRM stand-in (https://api.hubapi.com), from HubSpot's public API reference:

- CRM search: https://developers.hubspot.com/docs/api/crm/search
  POST /crm/v3/objects/contacts/search {"filterGroups": [{"filters": [{"propertyName", "operator": "EQ",
  "value"}]}], "properties": [...], "limit", "after"} -> {"total", "results": [...], "paging": {"next":
  {"after"}}}
- Objects: https://developers.hubspot.com/docs/api/crm/contacts (and companies, deals, notes, emails)
  GET /crm/v3/objects/{type}/{id}?properties=a,b -> {"id", "properties": {...}, "createdAt", "updatedAt",
  "archived"}; PATCH the same with {"properties": {...}}
- Associations v4: https://developers.hubspot.com/docs/api/crm/associations
  GET /crm/v4/objects/contacts/{id}/associations/{toType} -> {"results": [{"toObjectId",
  "associationTypes"}], "paging"}
- GDPR delete: POST /crm/v3/objects/contacts/gdpr-delete {"objectId"} -> 204 (the contact is gone for good)
- Subscriptions: https://developers.hubspot.com/docs/api/marketing-api/subscriptions-preferences
  POST /communication-preferences/v3/unsubscribe {"emailAddress", "subscriptionId"} -> 200
- Errors: {"status": "error", "message", "correlationId", "category"}; 429 with "errorType":
  "RATE_LIMIT" and no Retry-After (HubSpot documents X-HubSpot-RateLimit-* headers instead).
Private-app tokens are bearer tokens. Unsure: whether unsubscribing an address already unsubscribed
answers 200 or 400 (here: 200), and exactly what a GDPR delete takes with it besides the contact.
"""
from __future__ import annotations

import uuid

from dsr.demo_systems.people import COMPANIES, rng_for
from dsr.demo_systems.vendors.base import CANARY, Answer, Request, VendorServer, bearer, demo_people_with

SUBSCRIPTION = "7390127"  # the "Marketing information" e-mail subscription of the demo portal
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "phone", "jobtitle", "company", "lifecyclestage",
                      "hs_lead_status", "hubspotscore", "hs_analytics_source", "hs_analytics_num_page_views",
                      "createdate", "lastmodifieddate", "dsr_processing_restricted")
DEFAULT_PROPERTIES = ("email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id")
NOTES = ("Ringte om tilbud på bedriftsmedlemskap.", "Møte om kursplan for høsten.", "Sendte prisliste.")
DEALS = (("Bedriftsmedlemskap 2026", "4900", "closedwon"), ("Kurspakke høst", "9600", "presentationscheduled"))
ASSOCIATION = {"companies": 279, "notes": 202, "emails": 198, "deals": 4}  # HubSpot's contact_to_x type ids


class HubSpotServer(VendorServer):
    name = "hubspot"

    def __init__(self, token: str, **kwargs):
        self.token = token
        super().__init__(**kwargs)

    def seed(self) -> None:
        self.objects: dict[str, dict[str, dict]] = {t: {} for t in ("contacts", "companies", "notes", "emails",
                                                                      "deals")}
        self.links: dict[str, dict[str, list[str]]] = {}  # contact id -> type -> ids
        self.unsubscribed: set[tuple[str, str]] = set()
        for index, company in enumerate(COMPANIES):
            self._add("companies", str(9000 + index), {"name": company, "domain": f"firma{index}.example",
                                                       "city": "Oslo", "country": "Norway"})
        number = 100
        for person in demo_people_with(self, "in_crm") + [None]:
            number += 1
            cid = str(number)
            rng = rng_for("hubspot", number)
            email = person.email if person else CANARY
            self._add("contacts", cid, {
                "email": email, "firstname": person.first_name if person else "Canary",
                "lastname": person.last_name if person else "Test", "phone": (person.phone if person else None),
                "jobtitle": person.title if person else None, "lifecyclestage": rng.choice(("lead", "customer")),
                "hs_lead_status": rng.choice(("NEW", "OPEN", "CONNECTED")), "hubspotscore": str(rng.randint(0, 90)),
                "hs_analytics_source": rng.choice(("ORGANIC_SEARCH", "DIRECT_TRAFFIC", "EMAIL_MARKETING")),
                "hs_analytics_num_page_views": str(rng.randint(1, 60)), "dsr_processing_restricted": "false"})
            links = self.links.setdefault(cid, {t: [] for t in ASSOCIATION})
            if person is not None and person.company is not None:
                links["companies"].append(str(9000 + person.company))
            for n in range(rng.randint(1, 3) if person else 0):
                links["notes"].append(self._add("notes", f"{cid}0{n}", {"hs_note_body": rng.choice(NOTES),
                                                                          "hs_timestamp": "2026-10-0%dT09:00:00Z" % (n + 1)}))
                links["emails"].append(self._add("emails", f"{cid}1{n}", {
                    "hs_email_subject": "Om medlemskapet", "hs_email_direction": "INCOMING_EMAIL",
                    "hs_email_text": "Hei, jeg lurer på fakturaen.", "hs_timestamp": "2026-10-1%dT10:00:00Z" % n}))
            if person is not None and rng.random() < 0.6:
                name, amount, stage = rng.choice(DEALS)
                links["deals"].append(self._add("deals", f"{cid}2", {"dealname": name, "amount": amount,
                                                                      "dealstage": stage, "pipeline": "default"}))

    def _add(self, kind: str, oid: str, properties: dict) -> str:
        stamp = "2025-03-01T08:00:00.000Z"
        self.objects[kind][oid] = {"id": oid, "properties": {**properties, "hs_object_id": oid, "createdate": stamp,
                                                              "lastmodifieddate": stamp},
                                   "createdAt": stamp, "updatedAt": stamp, "archived": False}
        return oid

    def authorized(self, request: Request) -> bool:
        return bearer(request) == self.token

    def error(self, status: int, message: str) -> dict:
        category = {401: "INVALID_AUTHENTICATION", 404: "OBJECT_NOT_FOUND", 429: "RATE_LIMITS",
                    400: "VALIDATION_ERROR"}.get(status, "ERROR")
        body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
        if status == 429:
            body.update(errorType="RATE_LIMIT", policyName="SECONDLY")
        return body

    def busy_headers(self) -> dict[str, str]:
        return {"X-HubSpot-RateLimit-Interval-Milliseconds": "1000", "X-HubSpot-RateLimit-Max": "5"}

    def view(self, kind: str, oid: str, wanted: list[str]) -> dict:
        obj = self.objects[kind][oid]
        names = wanted or list(DEFAULT_PROPERTIES)
        return {**obj, "properties": {n: obj["properties"].get(n) for n in names}}

    def handle(self, request: Request) -> Answer:
        s, method = request.segments, request.method
        if method == "POST" and s == ["crm", "v3", "objects", "contacts", "search"]:
            return self._search(request.body or {})
        if method == "POST" and s == ["crm", "v3", "objects", "contacts", "gdpr-delete"]:
            oid = str((request.body or {}).get("objectId", ""))
            if oid not in self.objects["contacts"]:
                return self.not_found("resource not found")
            del self.objects["contacts"][oid]
            for kind in ("notes", "emails"):  # the contact's own engagements go with it
                for linked in self.links.get(oid, {}).get(kind, []):
                    self.objects[kind].pop(linked, None)
            self.links.pop(oid, None)
            return Answer(204)
        if method == "POST" and s == ["communication-preferences", "v3", "unsubscribe"]:
            body = request.body or {}
            if body.get("subscriptionId") != SUBSCRIPTION or "@" not in str(body.get("emailAddress", "")):
                return Answer(400, self.error(400, "Invalid subscription or email address"))
            self.unsubscribed.add((body["emailAddress"].lower(), SUBSCRIPTION))
            return Answer(200, {"recipient": body["emailAddress"], "subscriptionStatuses": [
                {"id": SUBSCRIPTION, "name": "Marketing information", "status": "NOT_SUBSCRIBED",
                 "sourceOfStatus": "SUBSCRIPTION_STATUS", "legalBasis": body.get("legalBasis")}]})
        if len(s) == 5 and s[:3] == ["crm", "v3", "objects"] and s[3] in self.objects:
            if s[4] not in self.objects[s[3]]:
                return self.not_found("resource not found")
            if method == "GET":
                wanted = [p for p in request.query.get("properties", "").split(",") if p]
                return Answer(200, self.view(s[3], s[4], wanted))
            if method == "PATCH":
                return self._update(s[3], s[4], request.body or {})
        if method == "GET" and len(s) == 7 and s[:4] == ["crm", "v4", "objects", "contacts"] and s[5] == "associations":
            if s[4] not in self.objects["contacts"] or s[6] not in ASSOCIATION:
                return self.not_found("resource not found")
            ids = self.links.get(s[4], {}).get(s[6], [])
            offset, limit = int(request.query.get("after", "0") or 0), int(request.query.get("limit", "2"))
            chunk, more = self.json_page(ids, offset, limit)
            body = {"results": [{"toObjectId": int(i), "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": ASSOCIATION[s[6]], "label": None}]} for i in chunk]}
            if more:
                body["paging"] = {"next": {"after": str(offset + limit),
                                           "link": f"{self.url}/crm/v4/objects/contacts/{s[4]}/associations/{s[6]}"
                                                   f"?after={offset + limit}"}}
            return Answer(200, body)
        return self.not_found("resource not found")

    def _search(self, body: dict) -> Answer:
        filters = [f for group in body.get("filterGroups", []) for f in group.get("filters", [])]
        found = list(self.objects["contacts"].values())
        for item in filters:
            if item.get("operator") != "EQ":
                return Answer(400, self.error(400, "Only EQ is supported by this stand-in"))
            found = [c for c in found
                     if str(c["properties"].get(item.get("propertyName")) or "").lower() == str(item.get("value")).lower()]
        limit, offset = int(body.get("limit", 10)), int(body.get("after", 0) or 0)
        chunk, more = self.json_page(found, offset, limit)
        answer = {"total": len(found), "results": [self.view("contacts", c["id"], body.get("properties", []))
                                                   for c in chunk]}
        if more:
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return Answer(200, answer)

    def _update(self, kind: str, oid: str, body: dict) -> Answer:
        properties = body.get("properties")
        if not isinstance(properties, dict) or (kind == "contacts" and set(properties) - set(CONTACT_PROPERTIES)):
            return Answer(400, self.error(400, "Property values were not valid"))
        self.objects[kind][oid]["properties"].update({k: str(v) for k, v in properties.items()})
        return Answer(200, self.view(kind, oid, list(properties)))
