"""Tripletex API v2 stand-in (https://tripletex.no/v2), from Tripletex's public documentation
(https://tripletex.no/v2-docs/ and https://developer.tripletex.no/docs/documentation/):

- Session token: PUT /token/session/:create?consumerToken=&employeeToken=&expirationDate=YYYY-MM-DD ->
  {"value": {"id", "version", "expirationDate", "token"}}; requests then authenticate with HTTP Basic,
  user "0" (the employee's own company) and the session token as password. A session ends at its
  expiration date; `expire_sessions()` ends them early (as a revoked or expired session would).
- Customers: GET /customer?email=&fields=&from=&count= -> {"fullResultSize", "from", "count",
  "versionDigest", "values": [...]}; GET /customer/{id} -> {"value": {...}}; PUT /customer/{id} {...}
- Invoices: GET /invoice?customerId=&invoiceDateFrom=&invoiceDateTo=&from=&count= (both dates required:
  422 otherwise) -> the same list shape
- Errors: {"status", "code", "message", "link", "developerMessage", "validationMessages", "requestId"};
  429 with X-Rate-Limit-Reset (seconds until the window resets).
Invoices are accounting material: the API offers no way to delete them (a credit note reverses one), so
this stand-in has none either. Unsure: whether PUT /customer/{id} needs the current "version" (here: no).
"""
from __future__ import annotations

import base64
import uuid
from datetime import date

from dsr.demo_systems.people import rng_for
from dsr.demo_systems.vendors.base import CANARY, Answer, Request, VendorServer, demo_people_with

EDITABLE = ("name", "email", "invoiceEmail", "phoneNumber", "phoneNumberMobile", "description", "isInactive",
            "postalAddress")


class TripletexServer(VendorServer):
    name = "tripletex"
    prefix = "/v2"

    def __init__(self, consumer_token: str, employee_token: str, **kwargs):
        self.consumer_token, self.employee_token = consumer_token, employee_token
        self.sessions: dict[str, date] = {}
        super().__init__(**kwargs)

    def seed(self) -> None:
        self.customers: dict[int, dict] = {}
        self.invoices: dict[int, dict] = {}
        people = [(p.id, f"{p.first_name} {p.last_name}", p.email, p.phone, p.address)
                  for p in demo_people_with(self, "in_accounting")]
        for number, name, email, phone, address in people + [(0, "Canary Test", CANARY, None, "Testveien 1, 0150 Oslo")]:
            cid = 1000 + number
            rng = rng_for("tripletex", number)
            street, _, place = address.partition(", ")
            postcode, _, city = place.partition(" ")
            self.customers[cid] = {
                "id": cid, "version": 1, "name": name, "customerNumber": 10000 + number, "email": email,
                "invoiceEmail": email, "phoneNumber": None, "phoneNumberMobile": phone, "isPrivateIndividual": True,
                "isInactive": False, "description": "",
                "postalAddress": {"addressLine1": street, "postalCode": postcode, "city": city, "country": {"id": 161}},
                "invoiceSendMethod": "EMAIL", "language": "NO"}
            # One invoice a year back to 2019 for Kari: some still under the five-year hold, some not.
            years = range(2019, 2027) if number == 1 else [2024 + rng.randint(0, 2)]
            for n, year in enumerate(years):
                iid = cid * 100 + n
                self.invoices[iid] = {"id": iid, "version": 1, "invoiceNumber": iid, "invoiceDate": f"{year}-03-15",
                                      "invoiceDueDate": f"{year}-03-29", "customer": {"id": cid},
                                      "amount": 4900.0, "amountCurrency": 4900.0, "currency": {"id": 1},
                                      "comment": "Bedriftsmedlemskap, årsavgift", "isCredited": False}

    # ------------------------------------------------------------------ auth

    def handle_outside(self, request: Request) -> Answer | None:
        if request.segments != ["token", "session", ":create"]:
            return None
        if request.method != "PUT":
            return Answer(405, self.error(405, "Method not allowed"))
        q = request.query
        if q.get("consumerToken") != self.consumer_token or q.get("employeeToken") != self.employee_token:
            return Answer(401, self.error(401, "Unauthorized"))
        try:
            expires = date.fromisoformat(q.get("expirationDate", ""))
        except ValueError:
            return Answer(422, self.error(422, "Validation failed"))
        token = f"eyJ0b2tlbklkIjo{uuid.uuid4().hex}"
        self.sessions[token] = expires
        return Answer(200, {"value": {"id": len(self.sessions), "version": 1, "expirationDate": expires.isoformat(),
                                     "token": token}})

    def authorized(self, request: Request) -> bool:
        value = request.headers.get("Authorization", "")
        try:
            user, _, token = base64.b64decode(value[6:]).decode().partition(":") if value.startswith("Basic ") \
                else ("", "", "")
        except ValueError:
            return False
        expires = self.sessions.get(token)
        return user == "0" and expires is not None and expires > date.today()

    def expire_sessions(self) -> None:
        self.sessions = dict.fromkeys(self.sessions, date(2000, 1, 1))

    def error(self, status: int, message: str, validation: list | None = None) -> dict:
        codes = {401: 3000, 404: 6000, 422: 15000, 429: 9000}
        return {"status": status, "code": codes.get(status, 1000), "message": message, "link": "https://tripletex.no/v2-docs/",
                "developerMessage": None, "validationMessages": validation, "requestId": str(uuid.uuid4())}

    def busy_headers(self) -> dict[str, str]:
        return {"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(self.retry_after)}

    # ------------------------------------------------------------------ routes

    def _list(self, request: Request, items: list[dict]) -> Answer:
        start, count = int(request.query.get("from", "0")), int(request.query.get("count", "1000"))
        chunk, _more = self.json_page(items, start, count)
        return Answer(200, {"fullResultSize": len(items), "from": start, "count": len(chunk),
                            "versionDigest": uuid.uuid4().hex[:8], "values": chunk})

    def handle(self, request: Request) -> Answer:
        s, method, q = request.segments, request.method, request.query
        if s == ["customer"] and method == "GET":
            wanted = q.get("email", "").lower()
            found = [c for c in self.customers.values() if not wanted or (c["email"] or "").lower() == wanted
                     or (c["invoiceEmail"] or "").lower() == wanted]
            return self._list(request, found)
        if len(s) == 2 and s[0] == "customer" and s[1].isdigit():
            customer = self.customers.get(int(s[1]))
            if customer is None:
                return Answer(404, self.error(404, "Object not found"))
            if method == "GET":
                return Answer(200, {"value": customer})
            if method == "PUT":
                body = request.body or {}
                if not str(body.get("name", customer["name"])).strip():
                    return Answer(422, self.error(422, "Validation failed",
                                                  [{"field": "name", "message": "Kan ikke være tom."}]))
                customer.update({k: v for k, v in body.items() if k in EDITABLE}, version=customer["version"] + 1)
                return Answer(200, {"value": customer})
        if s == ["invoice"] and method == "GET":
            missing = [name for name in ("invoiceDateFrom", "invoiceDateTo") if not q.get(name)]
            if missing:
                return Answer(422, self.error(422, "Validation failed",
                                              [{"field": name, "message": "Kan ikke være null."} for name in missing]))
            found = [i for i in self.invoices.values() if str(i["customer"]["id"]) == q.get("customerId", "")
                     and q["invoiceDateFrom"] <= i["invoiceDate"] < q["invoiceDateTo"]]
            return self._list(request, found)
        return Answer(404, self.error(404, "Object not found"))
