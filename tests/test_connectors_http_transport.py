"""What the http kind does for real APIs, against the vendors' stand-ins: busy answers waited out within
bounds, tokens kept, renewed before they expire and once more on a 401, session and service-account
tokens, requests at once per system bounded, and paging by body cursor, offset and next link."""
from __future__ import annotations

import copy
import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dsr.connectors.base import (
    Action,
    ConnectorContext,
    ConnectorError,
    Facts,
    Identity,
    PermanentConnectorError,
)
from dsr.connectors.http import HttpConnector
from dsr.connectors.registry import build_systems
from dsr.connectors.templates import available
from dsr.controller import load_systems_file
from dsr.demo_systems.people import KARI
from dsr.demo_systems.vendors.mailchimp import subscriber_hash
from tests.helpers.vendors import write_vendors_file

FACTS = Facts(purposes=("x",), legal_basis="x", categories=("x",), recipients=("x",), retention="x", source="x")


@pytest.fixture
def systems(vendor_env, tmp_path):
    """The connectors of the vendors' example file, on the stand-ins (built the way start-up builds them)."""
    _servers, env = vendor_env
    context = ConnectorContext(instance_path=tmp_path, storage_dir=tmp_path, environ=env)
    return {key: system.connector
            for key, system in build_systems(load_systems_file(write_vendors_file(tmp_path)), context).items()}


@pytest.fixture
def servers(vendor_env):
    return vendor_env[0]


def statuses(connector) -> list:
    return [(step.what, step.status) for step in connector.transport.trace]


def traced(connector):
    connector.transport.trace = []
    return connector


# ---------------------------------------------------------------------- busy answers


def test_a_429_with_retry_after_is_waited_out_before_asking_again(systems, servers):
    zendesk = servers["zendesk"]
    zendesk.throttle, zendesk.retry_after = 1, 1
    support = traced(systems["support"])
    started = time.monotonic()
    assert support.locate(Identity(email=KARI)).found
    assert time.monotonic() - started >= 1.0
    assert statuses(support) == [("lookup", 429), ("lookup", 200)]


def test_a_longer_wait_than_allowed_is_left_to_the_jobs_retry(systems, servers):
    zendesk = servers["zendesk"]
    zendesk.throttle, zendesk.retry_after = 1, 120
    with pytest.raises(ConnectorError, match=r"answered lookup with HTTP 429 \(it asks to wait 120 s\)") as caught:
        systems["support"].locate(Identity(email=KARI))
    assert not isinstance(caught.value, PermanentConnectorError)
    assert zendesk.calls == [("GET", "/api/v2/users/search")]  # not asked again at once


def test_busy_answers_are_asked_again_a_bounded_number_of_times(systems, servers):
    zendesk = servers["zendesk"]
    zendesk.throttle, zendesk.retry_after = 10, 0
    with pytest.raises(ConnectorError, match="HTTP 429"):
        systems["support"].locate(Identity(email=KARI))
    assert len(zendesk.calls) == 4  # the request and busy_retries = 3 more


def test_a_503_with_retry_after_and_vendor_reset_headers_are_honoured(systems, servers):
    servers["graph"].unavailable = 1
    mailbox = traced(systems["mailbox"])
    assert mailbox.locate(Identity(email=KARI)).found
    assert ("lookup", 503) in statuses(mailbox)
    intercom, tripletex = servers["intercom"], servers["tripletex"]
    intercom.throttle = tripletex.throttle = 1  # X-RateLimit-Reset (a Unix time), X-Rate-Limit-Reset (seconds)
    assert systems["app_chat"].locate(Identity(email=KARI)).found
    assert systems["accounting"].locate(Identity(email=KARI)).found
    assert intercom.calls.count(("POST", "/contacts/search")) == 2 and tripletex.throttle == 0


def test_a_429_without_any_wait_header_backs_off(systems, servers):
    servers["hubspot"].throttle = 1  # HubSpot sends no Retry-After
    started = time.monotonic()
    assert systems["crm"].locate(Identity(email=KARI)).found
    assert time.monotonic() - started >= 1.0


# ---------------------------------------------------------------------- tokens


def test_an_oauth_token_is_kept_and_renewed_shortly_before_it_expires(systems, servers):
    graph = servers["graph"]
    graph.tokens.lifetime = 2
    mailbox = traced(systems["mailbox"])
    mailbox.locate(Identity(email=KARI))
    mailbox.locate(Identity(email=KARI))
    assert [s for s in statuses(mailbox) if s[0] == "token"] == [("token", 200)]  # kept
    time.sleep(1.9)  # renewed a tenth of its life before it runs out, without waiting for a 401
    mailbox.locate(Identity(email=KARI))
    assert [s for s in statuses(mailbox) if s[0] == "token"] == [("token", 200)] * 2
    assert all(status != 401 for _what, status in statuses(mailbox))


def test_a_token_that_expired_early_is_refreshed_once_and_the_request_goes_on(systems, servers):
    mailbox = traced(systems["mailbox"])
    mailbox.locate(Identity(email=KARI))
    servers["graph"].tokens.expire_all()
    mailbox.transport.trace = []
    assert mailbox.locate(Identity(email=KARI)).found
    assert statuses(mailbox)[:3] == [("lookup", 401), ("token", 200), ("lookup", 200)]


def test_a_token_refused_again_is_a_permanent_error_naming_the_variables(systems, servers):
    servers["graph"].tokens.valid = lambda token: False  # every token is refused, fresh ones too
    mailbox = traced(systems["mailbox"])
    with pytest.raises(PermanentConnectorError) as caught:
        mailbox.locate(Identity(email=KARI))
    assert str(caught.value) == ("system mailbox refused lookup with HTTP 401: our credentials were not accepted "
                                 "(check DSR_MS365_CLIENT_ID, DSR_MS365_CLIENT_SECRET and DSR_MS365_TOKEN_URL)")
    assert [what for what, _ in statuses(mailbox)] == ["token", "lookup", "token", "lookup"]


def test_a_tripletex_session_is_made_once_and_again_when_it_ends(systems, servers):
    tripletex = servers["tripletex"]
    accounting = systems["accounting"]
    accounting.locate(Identity(email=KARI))
    accounting.locate(Identity(email=KARI))
    assert len(tripletex.sessions) == 1
    tripletex.expire_sessions()
    assert accounting.locate(Identity(email=KARI)).found
    assert len(tripletex.sessions) == 2


def test_a_google_service_account_key_signs_the_token_request(systems, servers, vendor_env, tmp_path, monkeypatch):
    analytics = traced(systems["analytics"])
    ref = analytics.locate(Identity(email=KARI, identifiers={"ga_client_id": "GA1.1.42.1700000000"}))
    assert ref.keys == {"key": ["42.1700000000"]}
    plan = analytics.plan(ref, next(iter(analytics.actions())), {}, None)
    assert analytics.apply(ref, plan) == 1 and servers["ga4"].deletions == [("412345678", "42.1700000000")]
    assert statuses(analytics) == [("token", 200), ("erase", 200)]

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = json.loads(Path(vendor_env[1]["DSR_GA4_KEY_FILE"]).read_text())
    forged["private_key"] = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode()
    Path(vendor_env[1]["DSR_GA4_KEY_FILE"]).write_text(json.dumps(forged))
    analytics.transport.auth.invalidate()
    with pytest.raises(PermanentConnectorError, match=r"refused our credentials at its token endpoint with HTTP 400 "
                                                      r"\(invalid_grant\): check DSR_GA4_KEY_FILE"):
        analytics.apply(ref, plan)


# ---------------------------------------------------------------------- holds


def test_the_bookkeeping_hold_keeps_a_customer_with_its_invoices_until_the_last_ends(systems, servers):
    accounting = systems["accounting"]
    ref = accounting.locate(Identity(email=KARI))
    plan = accounting.plan(ref, Action.ERASE, {}, date(2026, 12, 6))
    assert not plan.changes  # 2019 and 2020 are out of the hold; 2021-2026 keep the customer
    assert [(k.collection, k.count, k.until) for k in plan.kept] == [("customer", 1, "2031-12-31"),
                                                                     ("invoices", 6, "2031-12-31")]
    assert accounting.apply(ref, plan) == 0 and accounting.prove(ref, plan).ok

    later = accounting.plan(ref, Action.ERASE, {}, date(2032, 1, 1))  # the follow-up, when the hold has ended
    [change] = later.changes
    assert change.text.startswith("PUT /customer/{key}: the customer record and what the export finds under it")
    assert accounting.apply(ref, later) == 1 and accounting.prove(ref, later).ok
    customer = servers["tripletex"].customers[1001]
    assert customer["email"] == "" and customer["name"] == "Slettet kunde 1001"  # anonymised; invoices stay
    assert sum(1 for i in servers["tripletex"].invoices.values() if i["customer"]["id"] == 1001) == 8


# ---------------------------------------------------------------------- shapes and pages


def _from_template(name: str, environ: dict, tmp_path: Path, **changes) -> HttpConnector:
    settings = copy.deepcopy(available()[name].settings)
    for key in ("name", "name_nb", "kind", "facts", "facts_nb", "notify"):
        settings.pop(key, None)
    settings.update(rate_limit=500, **changes)
    HttpConnector.validate(settings)
    context = ConnectorContext(instance_path=tmp_path, storage_dir=tmp_path, environ=environ)
    return HttpConnector(name, name, FACTS, settings, context)


def test_pages_by_cursor_in_a_search_body_by_offset_and_by_next_link(vendor_env, servers, tmp_path):
    env = vendor_env[1]
    intercom = _from_template("intercom", env, tmp_path)
    intercom.collection_specs[1]["body"]["pagination"]["per_page"] = 1  # conversations: one a page
    ref = intercom.locate(Identity(email=KARI))
    conversations = [r for r in intercom.export(ref) if r.collection == "conversations"]
    searches = [c for c in servers["intercom"].calls if c == ("POST", "/conversations/search")]
    assert len(conversations) == len(searches) == 3

    mailchimp = _from_template("mailchimp", env, tmp_path, base_url="https://us21.api.mailchimp.com/3.0",
                               vars={"list_id": "a1b2c3d4e5"})
    mailchimp.collection_specs[1]["limit"] = 2
    ref = mailchimp.locate(Identity(email=KARI))
    assert ref.keys == {"key": [subscriber_hash(KARI)]}  # one object, found by the address's MD5
    activity = [r for r in mailchimp.export(ref) if r.collection == "activity"]
    feed = [c for c in servers["mailchimp"].calls if c[1].endswith("/activity-feed")]
    assert len(activity) == 3 and len(feed) == 2  # the second, short page is the last
    assert not mailchimp.locate(Identity(email="nobody@example.no")).found  # 404: nothing here

    graph_pages = [c for c in servers["graph"].calls if c[1].endswith("/messages")]
    assert graph_pages == []
    mailbox = _from_template("microsoft365", env, tmp_path, vars={"tenant_id": "t", "mailbox": "post@fjordnett.example"})
    assert len(mailbox.locate(Identity(email=KARI)).keys["key"]) == 4
    assert len([c for c in servers["graph"].calls if c[1].endswith("/messages")]) == 2  # @odata.nextLink followed


class _Slow(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.now = self.peak = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with self.server.lock:
            self.server.now += 1
            self.server.peak = max(self.server.peak, self.server.now)
        time.sleep(0.2)
        with self.server.lock:
            self.server.now -= 1
        body = json.dumps({"data": []}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("limit", [1, 3])
def test_requests_at_once_per_system_are_bounded(tmp_path, limit):
    server = _Slow()
    settings = {"base_url": f"http://127.0.0.1:{server.server_address[1]}/api", "rate_limit": 1000,
                "max_concurrency": limit, "locate": {"path": "/people", "items": "data", "key": "id"}}
    HttpConnector.validate(settings)
    connector = HttpConnector("slow", "Slow", FACTS, settings, ConnectorContext(tmp_path, tmp_path, {}))
    threads = [threading.Thread(target=connector.locate, args=(Identity(email=KARI),)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.shutdown()
    server.server_close()
    assert server.peak == limit
