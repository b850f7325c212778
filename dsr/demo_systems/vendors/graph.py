"""Microsoft Graph stand-in (https://graph.microsoft.com/v1.0 and its token endpoint
https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token), from Microsoft's public documentation:

- Client credentials: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
  POST /{tenant}/oauth2/v2.0/token (form: grant_type=client_credentials, client_id, client_secret, scope)
  -> {"token_type": "Bearer", "expires_in", "ext_expires_in", "access_token"}; a wrong secret -> 401
  {"error": "invalid_client", "error_description": "AADSTS7000215: ...", "error_codes": [7000215]}
- Messages: https://learn.microsoft.com/en-us/graph/api/user-list-messages
  GET /users/{mailbox}/messages?$search="<text>"&$select=...&$top=N -> {"@odata.context", "value",
  "@odata.nextLink"}; https://learn.microsoft.com/en-us/graph/search-query-parameter ($search on
  messages searches sender, recipients, subject and body; paging by the next link, $skip not allowed)
- One message: GET /users/{mailbox}/messages/{id}?$select=... ; 404 {"error": {"code": "ErrorItemNotFound"}}
- Errors: {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}};
  401 "InvalidAuthenticationToken" once a token expired; 429 "TooManyRequests" with Retry-After
  (https://learn.microsoft.com/en-us/graph/throttling).
The search API (POST /search/query) does not search mail with application permissions, as far as the
documentation says, so the template searches the mailbox's messages with $search (Mail.Read, application).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from dsr.demo_systems.people import rng_for
from dsr.demo_systems.vendors.base import CANARY, Answer, Request, VendorServer, bearer, demo_people_with

TENANT = "0b5d3e2a-7c1f-4f5e-9d2b-4a6c8e1f3b70"
MAILBOX = "post@fjordnett.example"
TOKEN_PATH = f"/{TENANT}/oauth2/v2.0/token"  # on login.microsoftonline.com in real life
PAGE = 2
SUBJECTS = ("Spørsmål om medlemskap", "Faktura", "Påmelding kurs", "Re: Avtale om møte")


class GraphServer(VendorServer):
    name = "graph"
    prefix = "/v1.0"

    def __init__(self, client_id: str, client_secret: str, token_lifetime: float = 3599, **kwargs):
        self.client_id, self.client_secret = client_id, client_secret
        super().__init__(**kwargs)
        self.tokens.lifetime = token_lifetime

    @property
    def token_url(self) -> str:
        return self.origin + TOKEN_PATH

    def seed(self) -> None:
        self.messages: dict[str, dict] = {}
        correspondents = [(p.id, f"{p.first_name} {p.last_name}", p.email) for p in demo_people_with(self, "in_crm")]
        for number, name, email in correspondents[:15] + [(0, "Canary Test", CANARY)]:
            rng = rng_for("graph", number)
            for n in range(rng.randint(1, 2) + (2 if number == 1 else 0)):
                incoming = n % 2 == 0
                them = {"emailAddress": {"name": name, "address": email}}
                us = {"emailAddress": {"name": "Fjordnett post", "address": MAILBOX}}
                mid = f"AAMkAGI2TG93AAA{number:04d}{n}AAA="
                stamp = f"2026-{10 + n % 2:02d}-{10 + n:02d}T09:{n:02d}:00Z"
                self.messages[mid] = {
                    "id": mid, "subject": rng.choice(SUBJECTS), "receivedDateTime": stamp, "sentDateTime": stamp,
                    "hasAttachments": False, "bodyPreview": "Hei! Jeg viser til samtalen vår og lurer på ...",
                    "from": them if incoming else us, "sender": them if incoming else us,
                    "toRecipients": [us if incoming else them], "ccRecipients": [],
                    "webLink": f"https://outlook.office365.com/owa/?ItemID={quote(mid, safe='')}&exvsurl=1"}

    # ------------------------------------------------------------------ tokens

    def handle_outside(self, request: Request) -> Answer | None:
        if request.path != TOKEN_PATH:
            return None
        form = request.body if isinstance(request.body, dict) else {}
        if form.get("grant_type") != "client_credentials":
            return Answer(400, {"error": "unsupported_grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Answer(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client "
                                "secret provided.", "error_codes": [7000215], "trace_id": str(uuid.uuid4())})
        if form.get("scope") != "https://graph.microsoft.com/.default":
            return Answer(400, {"error": "invalid_scope", "error_codes": [70011]})
        token, lifetime = self.tokens.issue()
        return Answer(200, {"token_type": "Bearer", "expires_in": int(lifetime), "ext_expires_in": int(lifetime),
                            "access_token": token})

    def authorized(self, request: Request) -> bool:
        return self.tokens.valid(bearer(request))

    def error(self, status: int, message: str) -> dict:
        code = {401: "InvalidAuthenticationToken", 404: "ErrorItemNotFound", 429: "TooManyRequests",
                400: "BadRequest"}.get(status, "generalException")
        text = {401: "Access token has expired or is not yet valid.", 429: "Please retry after"}.get(status, message)
        return {"error": {"code": code, "message": text, "innerError": {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4())}}}

    # ------------------------------------------------------------------ routes

    @staticmethod
    def _select(message: dict, select: str) -> dict:
        wanted = [name for name in select.split(",") if name]
        return {k: v for k, v in message.items() if not wanted or k in wanted or k == "id"}

    def handle(self, request: Request) -> Answer:
        s, q = request.segments, request.query
        if len(s) < 3 or s[0] != "users" or s[2] != "messages" or request.method != "GET":
            return Answer(400, self.error(400, "Unsupported request"))
        if s[1].lower() != MAILBOX:
            return Answer(404, {"error": {"code": "ErrorInvalidUser",
                                          "message": "The requested user is invalid."}})
        if len(s) == 4:
            message = self.messages.get(s[3])
            return Answer(200, self._select(message, q.get("$select", ""))) if message else self.not_found()
        if "$skip" in q and "$search" in q:
            return Answer(400, self.error(400, "$skip is not supported with $search"))
        term = q.get("$search", "").strip('"').lower()
        found = [m for m in self.messages.values() if not term or term in _searchable(m)]
        found.sort(key=lambda m: m["receivedDateTime"], reverse=True)
        top = int(q.get("$top", "10"))
        skip = int(q.get("$skiptoken", "0") or 0)
        chunk, more = self.json_page(found, skip, min(top, PAGE))
        body = {"@odata.context": f"{self.url}/$metadata#users('{MAILBOX}')/messages",
                "value": [self._select(m, q.get("$select", "")) for m in chunk]}
        if more:
            body["@odata.nextLink"] = (f"{self.url}/users/{quote(MAILBOX)}/messages?%24search={quote(q.get('$search', ''))}"
                                       f"&%24select={quote(q.get('$select', ''))}&%24top={top}"
                                       f"&%24skiptoken={skip + min(top, PAGE)}")
        return Answer(200, body)


def _searchable(message: dict) -> str:
    people = [message["from"], *message["toRecipients"], *message["ccRecipients"]]
    return " ".join([message["subject"], message["bodyPreview"],
                     *(p["emailAddress"]["address"] for p in people)]).lower()
