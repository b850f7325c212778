"""Intercom REST API stand-in (https://api.intercom.io, API version 2.11), from Intercom's public reference
(https://developers.intercom.com/docs/references/rest-api/api.intercom.io/):

- Search contacts: POST /contacts/search {"query": {"field": "email", "operator": "=", "value"},
  "pagination": {"per_page", "starting_after"}} -> {"type": "list", "data", "total_count", "pages":
  {"type": "pages", "page", "per_page", "total_pages", "next": {"page", "starting_after"}}}
- Contact: GET /contacts/{id}; PUT /contacts/{id} {"unsubscribed_from_emails": true};
  DELETE /contacts/{id} -> {"id", "object": "contact", "deleted": true}
- Search conversations: POST /conversations/search {"query": {"field": "contact_ids", "operator": "=",
  "value"}} -> {"type": "conversation.list", "conversations", "total_count", "pages"}
- Conversation: GET /conversations/{id} -> with "source" and "conversation_parts"
- Errors: {"type": "error.list", "request_id", "errors": [{"code", "message"}]}; 429 "rate_limit_exceeded"
  with X-RateLimit-Reset (a Unix time), which the transport reads when no Retry-After comes.
Bearer access tokens; the Intercom-Version header picks the version (this stand-in answers as 2.11).
Unsure: the exact cursor format of starting_after (opaque here).
"""
from __future__ import annotations

import base64
import time
import uuid

from dsr.demo_systems.people import rng_for
from dsr.demo_systems.vendors.base import CANARY, Answer, Request, VendorServer, bearer, demo_people_with

QUESTIONS = ("Hvordan eksporterer jeg rapporten?", "Kan jeg legge til en kollega?", "Fakturaen er feil.")
ANSWERS = ("Du finner det under Innstillinger.", "Ja, under Team.", "Vi sender en ny faktura.")


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor + "==").decode().removeprefix("o:"))
    except ValueError:
        return 0


class IntercomServer(VendorServer):
    name = "intercom"

    def __init__(self, token: str, **kwargs):
        self.token = token
        super().__init__(**kwargs)

    def seed(self) -> None:
        self.contacts: dict[str, dict] = {}
        self.conversations: dict[str, dict] = {}
        people = [(p.id, f"{p.first_name} {p.last_name}", p.email, p.phone) for p in demo_people_with(self, "in_chat")]
        for number, name, email, phone in people + [(0, "Canary Test", CANARY, None)]:
            rng = rng_for("intercom", number)
            cid = f"65{number:06d}a1b2c3"
            self.contacts[cid] = {"type": "contact", "id": cid, "workspace_id": "ecahpwf5", "role": "user",
                                  "email": email, "phone": phone, "name": name, "created_at": 1735725600,
                                  "updated_at": 1761984000, "last_seen_at": 1762000000, "signed_up_at": 1735725600,
                                  "browser": "chrome", "os": "Windows 10", "unsubscribed_from_emails": False,
                                  "location": {"type": "location", "country": "Norway", "city": "Oslo"},
                                  "custom_attributes": {"plan": rng.choice(("Basic", "Pro"))}}
            for n in range(rng.randint(1, 2) + (1 if number == 1 else 0)):
                conv = f"{number}00{n}"
                self.conversations[conv] = {
                    "type": "conversation", "id": conv, "created_at": 1760000000 + n * 86400, "state": "closed",
                    "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": cid}]},
                    "source": {"type": "conversation", "delivered_as": "customer_initiated",
                               "subject": "", "body": f"<p>{rng.choice(QUESTIONS)}</p>",
                               "author": {"type": "user", "id": cid, "name": name, "email": email}},
                    "conversation_parts": {"type": "conversation_part.list", "total_count": 1, "conversation_parts": [
                        {"type": "conversation_part", "id": f"{conv}1", "part_type": "comment",
                         "body": f"<p>{rng.choice(ANSWERS)}</p>", "created_at": 1760000300 + n * 86400,
                         "author": {"type": "admin", "id": "814860", "name": "Mona"}}]}}

    def authorized(self, request: Request) -> bool:
        return bearer(request) == self.token

    def error(self, status: int, message: str) -> dict:
        code = {401: "unauthorized", 404: "not_found", 429: "rate_limit_exceeded", 400: "parameter_invalid"}
        text = {401: "Access Token Invalid", 404: "User Not Found", 429: "Rate Limit Exceeded"}
        return {"type": "error.list", "request_id": str(uuid.uuid4()),
                "errors": [{"code": code.get(status, "server_error"), "message": text.get(status, message)}]}

    def busy_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + self.retry_after)}

    def _list(self, items: list[dict], body: dict, key: str, kind: str) -> Answer:
        paging = body.get("pagination") or {}
        per_page = int(paging.get("per_page", 50))
        offset = _offset(paging.get("starting_after"))
        chunk, more = self.json_page(items, offset, per_page)
        pages = {"type": "pages", "page": offset // per_page + 1, "per_page": per_page,
                 "total_pages": max(1, -(-len(items) // per_page))}
        if more:
            pages["next"] = {"page": offset // per_page + 2, "starting_after": _cursor(offset + per_page)}
        return Answer(200, {"type": kind, key: chunk, "total_count": len(items), "pages": pages})

    def handle(self, request: Request) -> Answer:
        s, method, body = request.segments, request.method, request.body or {}
        query = body.get("query") or {}
        if method == "POST" and s == ["contacts", "search"]:
            if query.get("field") != "email" or query.get("operator") != "=":
                return Answer(400, self.error(400, "Unsupported query"))
            wanted = str(query.get("value", "")).lower()
            found = [c for c in self.contacts.values() if (c["email"] or "").lower() == wanted]
            return self._list(found, body, "data", "list")
        if method == "POST" and s == ["conversations", "search"]:
            if query.get("field") != "contact_ids" or query.get("operator") != "=":
                return Answer(400, self.error(400, "Unsupported query"))
            found = [{k: v for k, v in c.items() if k != "conversation_parts"} for c in self.conversations.values()
                     if any(x["id"] == query.get("value") for x in c["contacts"]["contacts"])]
            return self._list(found, body, "conversations", "conversation.list")
        if len(s) == 2 and s[0] == "contacts":
            contact = self.contacts.get(s[1])
            if contact is None:
                return self.not_found()
            if method == "GET":
                return Answer(200, contact)
            if method == "PUT":
                contact.update({k: v for k, v in body.items() if k in ("unsubscribed_from_emails", "name", "phone")})
                return Answer(200, contact)
            if method == "DELETE":
                del self.contacts[s[1]]
                for conv in [k for k, c in self.conversations.items()
                             if any(x["id"] == s[1] for x in c["contacts"]["contacts"])]:
                    del self.conversations[conv]
                return Answer(200, {"id": s[1], "object": "contact", "deleted": True})
        if len(s) == 2 and s[0] == "conversations" and method == "GET":
            conversation = self.conversations.get(s[1])
            return Answer(200, conversation) if conversation else self.not_found()
        return self.not_found()
