"""The vendors' stand-ins for tests: every one running in a thread, the environment pointing the templates
at them, and the app on instance/systems.vendors.example.toml (each http system allowed a faster pace, the
one override every test makes). Loaded as a plugin (tests/conftest.py).

    def test_x(vendor_app, vendor_session, vendors):   # vendors["hubspot"] is the HubSpot stand-in
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsr import REPO_ROOT
from dsr.demo_systems.vendors.base import stop
from dsr.demo_systems.vendors.stand_ins import credentials, environment, start_all
from tests.helpers.apps import app_session, built_app

VENDORS_FILE = REPO_ROOT / "instance" / "systems.vendors.example.toml"
FAST = "rate_limit = 200\n"


def vendors_systems_text(extra: dict[str, str] | None = None) -> str:
    """The vendors' example file, every template's system paced for tests; `extra` adds lines to the
    [[systems]] entry with that key (its settings override the template's)."""
    text = VENDORS_FILE.read_text()

    def entry(match: re.Match) -> str:
        key = match.group(1)
        return match.group(0) + FAST + (extra or {}).get(key, "")

    return re.sub(r'\[\[systems\]\]\nkey = "([a-z_0-9]+)"\n', entry, text)


def write_vendors_file(folder: Path, extra: dict[str, str] | None = None) -> Path:
    path = folder / "systems.vendors.toml"
    path.write_text(vendors_systems_text(extra))
    return path


@pytest.fixture
def vendor_env(tmp_path):
    """Credentials, URLs and the Google key file of freshly started stand-ins (not yet in os.environ)."""
    creds = credentials()
    servers = start_all(creds)
    key_file = servers["ga4"].write_key_file(tmp_path / "ga4-key.json")
    yield servers, environment(servers, creds, key_file)
    for server in servers.values():
        stop(server)


@pytest.fixture
def vendors(vendor_env, monkeypatch):
    """The running stand-ins by name, with os.environ pointing the templates at them."""
    servers, env = vendor_env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return servers


@pytest.fixture
def vendor_app(app_config, vendors, tmp_path):
    """The app on the vendors' example systems file (see `vendors_systems_text`)."""
    app_config["SYSTEMS_FILE"] = str(write_vendors_file(tmp_path))
    with built_app(app_config) as application:
        yield application


@pytest.fixture
def vendor_session(vendor_app):
    with app_session(vendor_app) as session:
        yield session


