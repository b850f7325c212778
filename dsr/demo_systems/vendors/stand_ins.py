"""Every vendor stand-in at once, and the environment variables that point the templates at them (the ones
instance/systems.vendors.example.toml names): what the demo's run command and the tests start.

    servers = start_all(credentials())            # threads, free ports
    os.environ.update(environment(servers, creds, key_file))
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from dsr.demo_systems.vendors.base import VendorServer, start
from dsr.demo_systems.vendors.ga4 import Ga4Server
from dsr.demo_systems.vendors.graph import TOKEN_PATH, GraphServer
from dsr.demo_systems.vendors.hubspot import HubSpotServer
from dsr.demo_systems.vendors.intercom import IntercomServer
from dsr.demo_systems.vendors.mailchimp import MailchimpServer
from dsr.demo_systems.vendors.tripletex import TripletexServer
from dsr.demo_systems.vendors.zendesk import ZendeskServer

#: the credentials' variables, as the templates name them
SECRETS = ("DSR_HUBSPOT_TOKEN", "DSR_MAILCHIMP_API_KEY", "DSR_ZENDESK_API_TOKEN", "DSR_INTERCOM_TOKEN",
           "DSR_TRIPLETEX_CONSUMER_TOKEN", "DSR_TRIPLETEX_EMPLOYEE_TOKEN", "DSR_MS365_CLIENT_ID",
           "DSR_MS365_CLIENT_SECRET")
ZENDESK_USER = "privacy@fjordnett.example/token"
NAMES = ("hubspot", "mailchimp", "zendesk", "intercom", "tripletex", "graph", "ga4")


def credentials() -> dict[str, str]:
    """Fresh random credentials for a set of stand-ins (a Mailchimp key ends with its data centre)."""
    found = {name: secrets.token_urlsafe(18) for name in SECRETS}
    found["DSR_MAILCHIMP_API_KEY"] += "-us21"
    found["DSR_ZENDESK_USER"] = ZENDESK_USER
    return found


def build(name: str, creds: Mapping[str, str], host: str = "127.0.0.1", port: int = 0) -> VendorServer:
    if name == "hubspot":
        return HubSpotServer(creds["DSR_HUBSPOT_TOKEN"], host=host, port=port)
    if name == "mailchimp":
        return MailchimpServer(creds["DSR_MAILCHIMP_API_KEY"], host=host, port=port)
    if name == "zendesk":
        return ZendeskServer(creds.get("DSR_ZENDESK_USER", ZENDESK_USER), creds["DSR_ZENDESK_API_TOKEN"], host=host,
                             port=port)
    if name == "intercom":
        return IntercomServer(creds["DSR_INTERCOM_TOKEN"], host=host, port=port)
    if name == "tripletex":
        return TripletexServer(creds["DSR_TRIPLETEX_CONSUMER_TOKEN"], creds["DSR_TRIPLETEX_EMPLOYEE_TOKEN"],
                               host=host, port=port)
    if name == "graph":
        return GraphServer(creds["DSR_MS365_CLIENT_ID"], creds["DSR_MS365_CLIENT_SECRET"], host=host, port=port)
    if name == "ga4":
        return Ga4Server(host=host, port=port)
    raise ValueError(name)


def start_all(creds: Mapping[str, str], host: str = "127.0.0.1",
              ports: Mapping[str, int] | None = None) -> dict[str, VendorServer]:
    return {name: start(build(name, creds, host, (ports or {}).get(name, 0))) for name in NAMES}


def environment(servers: Mapping[str, VendorServer], creds: Mapping[str, str], key_file: Path) -> dict[str, str]:
    """The variables that send each template to its stand-in, with the stand-ins' credentials."""
    host = next(iter(servers.values())).server_address[0]
    ports = {name: server.server_address[1] for name, server in servers.items()}
    return {**creds, **urls(host, ports), "DSR_GA4_KEY_FILE": str(key_file)}


def urls(host: str, ports: Mapping[str, int]) -> dict[str, str]:
    """The URL variables of stand-ins listening on `ports` (also for a process started later)."""
    origin = {name: f"http://{host}:{port}" for name, port in ports.items()}
    return {"DSR_HUBSPOT_URL": origin["hubspot"], "DSR_MAILCHIMP_URL": origin["mailchimp"] + MailchimpServer.prefix,
            "DSR_ZENDESK_URL": origin["zendesk"] + ZendeskServer.prefix, "DSR_INTERCOM_URL": origin["intercom"],
            "DSR_TRIPLETEX_URL": origin["tripletex"] + TripletexServer.prefix,
            "DSR_MS365_URL": origin["graph"] + GraphServer.prefix, "DSR_MS365_TOKEN_URL": origin["graph"] + TOKEN_PATH,
            "DSR_GA4_URL": origin["ga4"] + Ga4Server.prefix}
