"""Mailchimp Marketing API stand-in (https://<dc>.api.mailchimp.com/3.0), from Mailchimp's public reference:

- List members: https://mailchimp.com/developer/marketing/api/list-members/
  GET /lists/{list_id}/members/{subscriber_hash} (the MD5 of the lower-cased address) -> the member;
  PATCH it with {"status": "unsubscribed"}; POST .../actions/delete-permanent -> 204 (the address cannot
  be re-imported afterwards)
- Member activity: https://mailchimp.com/developer/marketing/api/list-member-activity-feed/
  GET .../activity-feed?count=&offset= -> {"activity": [...], "email_id", "list_id", "total_items"}
- Member tags: https://mailchimp.com/developer/marketing/api/list-member-tags/
  GET .../tags?count=&offset= -> {"tags": [...], "total_items"}
- Errors: https://mailchimp.com/developer/marketing/docs/errors/ — {"type", "title", "status", "detail",
  "instance"}; 429 "Too Many Requests" (Mailchimp allows 10 connections at once; no Retry-After)
- Auth: HTTP Basic with any user name and the API key, whose suffix names the data centre ("-us21").
"""
from __future__ import annotations

import base64
import hashlib
import uuid

from dsr.demo_systems.people import rng_for
from dsr.demo_systems.vendors.base import CANARY, Answer, Request, VendorServer, demo_people_with

LIST_ID = "a1b2c3d4e5"
CAMPAIGNS = (("c101", "Nyhetsbrev oktober"), ("c102", "Kurs til høsten"), ("c103", "Nyhetsbrev november"))
TAGS = ("Medlem", "Kurs", "Oslo")


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()  # noqa: S324 (Mailchimp's member id)


class MailchimpServer(VendorServer):
    name = "mailchimp"
    prefix = "/3.0"

    def __init__(self, api_key: str, **kwargs):
        self.api_key = api_key
        super().__init__(**kwargs)

    def seed(self) -> None:
        self.members: dict[str, dict] = {}
        self.activity: dict[str, list[dict]] = {}
        self.tags: dict[str, list[dict]] = {}
        self.deleted: set[str] = set()  # permanently deleted: never found, never re-imported
        subscribers = [(p.email, p.first_name, p.last_name, p.id) for p in demo_people_with(self, "in_newsletter")]
        for email, first, last, number in subscribers + [(CANARY, "Canary", "Test", 0)]:
            rng = rng_for("mailchimp", number)
            member_id = subscriber_hash(email)
            self.members[member_id] = {
                "id": member_id, "email_address": email, "unique_email_id": uuid.uuid5(uuid.NAMESPACE_URL, email).hex[:10],
                "contact_id": f"ct{number:05d}", "full_name": f"{first} {last}", "email_type": "html",
                "status": "subscribed", "merge_fields": {"FNAME": first, "LNAME": last},
                "stats": {"avg_open_rate": round(rng.random(), 2), "avg_click_rate": round(rng.random() / 4, 2)},
                "ip_signup": f"84.210.{rng.randint(1, 254)}.{rng.randint(1, 254)}",
                "timestamp_signup": "2024-05-02T10:15:00+00:00", "ip_opt": "84.210.1.1",
                "timestamp_opt": "2024-05-02T10:16:00+00:00", "member_rating": rng.randint(1, 5),
                "last_changed": "2026-10-01T08:00:00+00:00", "language": "nb", "vip": False,
                "location": {"country_code": "NO", "timezone": "Europe/Oslo"}, "list_id": LIST_ID,
                "tags_count": 2}
            self.activity[member_id] = [
                {"activity_type": rng.choice(("open", "click", "sent")), "campaign_id": cid, "campaign_title": title,
                 "created_at_timestamp": f"2026-{9 + n:02d}-0{n + 1}T07:30:00+00:00"}
                for n, (cid, title) in enumerate(CAMPAIGNS)]
            self.tags[member_id] = [{"id": 300 + n, "name": TAGS[n], "date_added": "2024-05-02T10:16:00+00:00"}
                                    for n in range(2)]

    def authorized(self, request: Request) -> bool:
        value = request.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return False
        try:
            _user, _, key = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return False
        return key == self.api_key

    def error(self, status: int, message: str) -> dict:
        titles = {401: "API Key Invalid", 404: "Resource Not Found", 429: "Too Many Requests",
                  400: "Invalid Resource"}
        details = {401: "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
                   404: "The requested resource could not be found."}
        return {"type": "https://mailchimp.com/developer/marketing/docs/errors/",
                "title": titles.get(status, message), "status": status, "detail": details.get(status, message),
                "instance": str(uuid.uuid4())}

    def busy_headers(self) -> dict[str, str]:
        return {}

    def handle(self, request: Request) -> Answer:
        s, method = request.segments, request.method
        if len(s) < 4 or s[:3] != ["lists", LIST_ID, "members"]:
            return self.not_found()
        member = self.members.get(s[3])
        if member is None:
            return self.not_found()
        rest = s[4:]
        if rest == [] and method == "GET":
            return Answer(200, member)
        if rest == [] and method == "PATCH":
            status = (request.body or {}).get("status")
            if status not in ("subscribed", "unsubscribed", "cleaned", "pending", None):
                return Answer(400, self.error(400, "Invalid Resource"))
            member.update({k: v for k, v in (request.body or {}).items() if k in ("status", "merge_fields")},
                          last_changed="2026-12-06T12:00:00+00:00")
            return Answer(200, member)
        if rest == ["actions", "delete-permanent"] and method == "POST":
            del self.members[s[3]]
            self.deleted.add(s[3])
            self.activity.pop(s[3], None)
            self.tags.pop(s[3], None)
            return Answer(204)
        if rest in (["activity-feed"], ["tags"]) and method == "GET":
            items = (self.activity if rest == ["activity-feed"] else self.tags).get(s[3], [])
            count, offset = int(request.query.get("count", "10")), int(request.query.get("offset", "0"))
            chunk, _more = self.json_page(items, offset, count)
            key = "activity" if rest == ["activity-feed"] else "tags"
            return Answer(200, {key: chunk, "email_id": s[3], "list_id": LIST_ID, "total_items": len(items)})
        return self.not_found()
