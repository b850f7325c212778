"""Zendesk Support API stand-in (https://<subdomain>.zendesk.com/api/v2), from Zendesk's public reference:

- Users: https://developer.zendesk.com/api-reference/ticketing/users/users/
  GET /users/search?query=email:<address> -> {"users", "next_page", "previous_page", "count"};
  GET /users/{id} -> {"user"}; DELETE /users/{id} -> 200 {"user"} (soft delete: "active": false)
- Permanent deletion: https://developer.zendesk.com/api-reference/ticketing/users/users/#permanently-delete-user
  DELETE /deleted_users/{id} -> 200 {"deleted_user"} (only a soft-deleted user; otherwise 404)
- Requested tickets: https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/
  GET /users/{id}/tickets/requested -> {"tickets", "next_page", "count"} (offset pages, absolute next URL);
  DELETE /tickets/{id} -> 204, then DELETE /deleted_tickets/{id} -> 204 (permanently)
- Comments: https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
  GET /tickets/{id}/comments -> {"comments", "next_page", "count"}
- Errors: {"error": "RecordNotFound", "description": "Not found"}; 401 {"error": "Couldn't authenticate you"};
  429 with Retry-After in seconds (documented: https://developer.zendesk.com/api-reference/introduction/rate-limits/)
- Auth: HTTP Basic "<agent e-mail>/token" and the API token.
"""
from __future__ import annotations

import base64

from dsr.demo_systems.people import rng_for
from dsr.demo_systems.vendors.base import CANARY, Answer, Request, VendorServer, demo_people_with

PER_PAGE = 2
SUBJECTS = ("Faktura mangler", "Endre e-postadresse", "Påmelding til kurs", "Innlogging virker ikke")
LINES = ("Hei, kan dere hjelpe meg med dette?", "Takk, det fungerer nå.", "Vi har sett på saken og ordnet det.")


class ZendeskServer(VendorServer):
    name = "zendesk"
    prefix = "/api/v2"

    def __init__(self, user: str, api_token: str, **kwargs):
        self.user, self.api_token = user, api_token
        super().__init__(**kwargs)

    def seed(self) -> None:
        self.users: dict[int, dict] = {}
        self.tickets: dict[int, dict] = {}
        self.comments: dict[int, list[dict]] = {}
        self.soft_deleted_users: set[int] = set()
        self.soft_deleted_tickets: set[int] = set()
        people = [(p.id, f"{p.first_name} {p.last_name}", p.email, p.phone) for p in demo_people_with(self, "in_chat")]
        for number, name, email, phone in people + [(0, "Canary Test", CANARY, None)]:
            uid = 360000 + number
            rng = rng_for("zendesk", number)
            self.users[uid] = {"id": uid, "url": f"{self.url}/users/{uid}.json", "name": name, "email": email,
                               "phone": phone, "role": "end-user", "active": True, "verified": True,
                               "locale": "nb", "time_zone": "Oslo", "created_at": "2025-01-10T09:00:00Z",
                               "updated_at": "2026-11-01T09:00:00Z", "tags": [], "user_fields": {}}
            for n in range(rng.randint(1, 3) + (2 if number == 1 else 0)):
                tid = uid * 10 + n
                self.tickets[tid] = {"id": tid, "url": f"{self.url}/tickets/{tid}.json",
                                     "subject": rng.choice(SUBJECTS), "description": rng.choice(LINES),
                                     "status": rng.choice(("solved", "closed", "open")), "requester_id": uid,
                                     "submitter_id": uid, "created_at": f"2026-0{n + 1}-15T10:00:00Z",
                                     "channel": "web"}
                self.comments[tid] = [{"id": tid * 10 + m, "type": "Comment", "author_id": uid if m % 2 == 0 else 1,
                                       "body": LINES[m % len(LINES)], "public": True,
                                       "created_at": f"2026-0{n + 1}-15T10:0{m}:00Z"} for m in range(3)]

    def authorized(self, request: Request) -> bool:
        value = request.headers.get("Authorization", "")
        try:
            given = base64.b64decode(value[6:]).decode() if value.startswith("Basic ") else ""
        except ValueError:
            return False
        return given == f"{self.user}:{self.api_token}"

    def error(self, status: int, message: str) -> dict:
        if status == 401:
            return {"error": "Couldn't authenticate you"}
        if status == 404:
            return {"error": "RecordNotFound", "description": "Not found"}
        if status == 429:
            return {"error": "TooManyRequests", "description": "Rate limit exceeded"}
        return {"error": message}

    def _page(self, request: Request, items: list, key: str, path: str) -> Answer:
        page = int(request.query.get("page", "1") or 1)
        chunk, more = self.json_page(items, (page - 1) * PER_PAGE, PER_PAGE)
        following = f"{self.url}{path}?page={page + 1}" if more else None
        return Answer(200, {key: chunk, "next_page": following,
                            "previous_page": f"{self.url}{path}?page={page - 1}" if page > 1 else None,
                            "count": len(items)})

    def handle(self, request: Request) -> Answer:
        s = [segment.removesuffix(".json") for segment in request.segments]
        method = request.method
        if method == "GET" and s == ["users", "search"]:
            query = request.query.get("query", "")
            wanted = query.removeprefix("email:").strip().strip('"').lower()
            found = [u for uid, u in self.users.items() if uid not in self.soft_deleted_users
                     and (u["email"] or "").lower() == wanted]
            return Answer(200, {"users": found, "next_page": None, "previous_page": None, "count": len(found)})
        if len(s) >= 2 and s[0] == "users" and s[1].isdigit():
            uid = int(s[1])
            if uid not in self.users or uid in self.soft_deleted_users:
                return self.not_found()
            if len(s) == 2 and method == "GET":
                return Answer(200, {"user": self.users[uid]})
            if len(s) == 2 and method == "DELETE":
                self.soft_deleted_users.add(uid)
                return Answer(200, {"user": {**self.users[uid], "active": False}})
            if s[2:] == ["tickets", "requested"] and method == "GET":
                mine = [t for tid, t in self.tickets.items() if t["requester_id"] == uid
                        and tid not in self.soft_deleted_tickets]
                return self._page(request, mine, "tickets", f"/users/{uid}/tickets/requested")
        if len(s) == 2 and s[0] == "deleted_users" and s[1].isdigit() and method == "DELETE":
            uid = int(s[1])
            if uid not in self.soft_deleted_users:
                return self.not_found()
            user = self.users.pop(uid)
            self.soft_deleted_users.discard(uid)
            return Answer(200, {"deleted_user": {"id": uid, "name": user["name"], "active": False}})
        if len(s) >= 2 and s[0] == "tickets" and s[1].isdigit():
            tid = int(s[1])
            if tid not in self.tickets or tid in self.soft_deleted_tickets:
                return self.not_found()
            if len(s) == 2 and method == "DELETE":
                self.soft_deleted_tickets.add(tid)
                return Answer(204)
            if s[2:] == ["comments"] and method == "GET":
                return self._page(request, self.comments.get(tid, []), "comments", f"/tickets/{tid}/comments")
        if len(s) == 2 and s[0] == "deleted_tickets" and s[1].isdigit() and method == "DELETE":
            tid = int(s[1])
            if tid not in self.soft_deleted_tickets:
                return self.not_found()
            self.soft_deleted_tickets.discard(tid)
            del self.tickets[tid]
            self.comments.pop(tid, None)
            return Answer(204)
        return self.not_found()
