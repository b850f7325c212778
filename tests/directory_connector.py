"""A tiny connector kind for the intake and identity tests: people in a JSON file.

Declared in a test's systems file as

    [[systems]]
    key = "crm"
    name = "Test CRM"
    kind = "test_directory"
    path = "/tmp/.../people.json"     # [{"id": 1, "email": "...", "phone": "+47...", "name": "..."}]
    fail = false                      # true: locate raises ConnectorError (the system is down)
    delay = 0.0                       # seconds locate takes
    gate = "/tmp/.../gate"            # locate waits until this file exists (a test shows the "checking"
                                      # page for sure, then opens the gate); at most 60 s

Apps load it with CONNECTOR_MODULES="tests.directory_connector" (worker subprocesses too).
It implements the real contract of dsr.connectors.base, so the lookup job runs unchanged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dsr.config import example_systems_file
from dsr.connectors.base import Connector, ConnectorError, DeclarationError, Identity, Record, SubjectRef
from dsr.connectors.registry import kind

MODULE = "tests.directory_connector"


@kind("test_directory")
class DirectoryConnector(Connector):
    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        if not isinstance(settings.get("path"), str) or not settings["path"]:
            raise DeclarationError("path", "the path of the people file is required")
        if not isinstance(settings.get("fail", False), bool):
            raise DeclarationError("fail", "must be true or false")
        if not isinstance(settings.get("delay", 0), int | float):
            raise DeclarationError("delay", "must be a number of seconds")
        if not isinstance(settings.get("gate", ""), str):
            raise DeclarationError("gate", "must be a file path")

    def _people(self) -> list[dict[str, Any]]:
        if self.settings.get("fail"):
            raise ConnectorError(f"{self.name} is not answering")
        time.sleep(float(self.settings.get("delay", 0)))
        gate = self.settings.get("gate")
        deadline = time.monotonic() + 60
        while gate and not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return json.loads(Path(self.settings["path"]).read_text())

    def locate(self, identity: Identity) -> SubjectRef:
        wanted = identity.email.casefold()
        matches = [p for p in self._people() if str(p.get("email", "")).casefold() == wanted]
        return SubjectRef(
            system_key=self.key,
            keys={"people.id": [p["id"] for p in matches]} if matches else {},
            phones=[p["phone"] for p in matches if p.get("phone")],
            emails=[p["email"] for p in matches],
        )

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        ids = set(ref.keys.get("people.id", []))
        for person in self._people():
            if person["id"] in ids:
                yield Record("people", dict(person))


def controller_block() -> str:
    """The [controller] tables of the example systems file (everything before its first [[systems]])."""
    text = example_systems_file().read_text()
    return text.split("[[systems]]", 1)[0]


def write_systems(folder: Path, systems: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write people files and a systems.toml declaring one directory per entry of `systems`:
    {"crm": {"people": [...], "fail": False, "delay": 0}} -> the path of systems.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [controller_block()]
    for key, spec in systems.items():
        people = folder / f"{key}.json"
        people.write_text(json.dumps(list(spec.get("people", []))))
        parts.append(
            f'\n[[systems]]\nkey = "{key}"\nname = "{spec.get("name", key.upper())}"\n'
            'kind = "test_directory"\n'
            f'path = "{people}"\nfail = {"true" if spec.get("fail") else "false"}\n'
            f"delay = {float(spec.get('delay', 0))}\n"
            f"gate = {json.dumps(str(spec.get('gate', '')))}\n"
            '[systems.facts]\npurposes = ["Customer service"]\n'
            'legal_basis = "Contract, Art. 6(1)(b)"\ncategories = ["Contact details"]\n'
            'recipients = ["None"]\n'
            'retention = "While you are a customer"\n'
            'source = "You"\n'
        )
    path = folder / "systems.toml"
    path.write_text("".join(parts))
    return path


# ------------------------------------------------------------------ helpers for the subject-side tests

KARI = {"id": 1, "email": "kari.nordmann@example.org", "phone": "+4791234789", "name": "Kari Nordmann"}
OLA = {"id": 2, "email": "ola@example.org", "name": "Ola Nordmann"}  # on file, but no phone


def use_directory(
    app_config: dict, folder: Path, systems: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    """Point the app at test directories: by default a CRM holding Kari (with phone) and Ola (without)."""
    path = write_systems(
        folder, systems if systems is not None else {"crm": {"name": "Test CRM", "people": [KARI, OLA]}}
    )
    app_config.update(SYSTEMS_FILE=str(path), CONNECTOR_MODULES=MODULE)
    return path


def outbox_mails(app) -> list:
    """The .eml files the app wrote (no SMTP host), oldest first, parsed."""
    from email import message_from_bytes, policy

    folder = Path(app.config["OUTBOX_DIR"])
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]


def mails_to(app, address: str) -> list:
    return [m for m in outbox_mails(app) if m["To"] == address]


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def code_in(text: str) -> str:
    import re

    match = re.search(r"(?m)^\s*(\d{6})\s*$", text) or re.search(r"\b(\d{6})\b", text)
    assert match, f"no code in {text[:200]!r}"
    return match.group(1)


def link_in(text: str, kind: str = "verify") -> str:
    """The path of the first verification ("/verify/link/") or case ("/case/open/") link in a mail."""
    import re

    marker = {"verify": "/verify/link/", "case": "/case/open/"}[kind]
    match = re.search(r"https?://[^/\s]+(" + re.escape(marker) + r"[A-Za-z0-9_.\-]+)", text)
    assert match, f"no {kind} link in {text[:300]!r}"
    return match.group(1)


def sms_lines(app) -> list[str]:
    path = Path(app.config["OUTBOX_DIR"]) / "sms.log"
    return path.read_text().splitlines() if path.exists() else []


def file_request(client, right: str = "erasure", email: str = KARI["email"], lang: str = "en", **answers):
    """Send a request the way the check-your-answers page does (its hidden fields), without following."""
    from dsr.intake.views import RIGHT_SLUGS
    from dsr.models import Right

    data = {
        "email": email,
        "full_name": answers.pop("full_name", ""),
        "phone": answers.pop("phone", ""),
        "intake_key": answers.pop("intake_key", None) or __import__("secrets").token_urlsafe(24),
        **answers,
    }
    return client.post(f"/request/{RIGHT_SLUGS[Right(right)]}/send?lang={lang}", data=data)
