"""The test connector kind: people in a JSON file, with knobs for a slow, down or wedged system.

Declared in a test's systems file (`people_system(...)` or `use_directory(...)` write it) as

    [[systems]]
    key = "crm"
    name = "Test CRM"
    kind = "test_people"
    path = "/tmp/.../crm.json"        # [{"id": 1, "email": "...", "phone": "+47...", "name": "..."}]
    fail = false                      # true: locate raises ConnectorError (the system is down)
    delay = 0.0                       # seconds each read of the people file takes
    gate = "/tmp/.../gate"            # each read waits until this file exists (a test shows the "checking"
                                      # page for sure, then opens the gate); at most 60 s
    hang_after_first_batch = false    # true: the export sends one batch of records, then never another:
                                      # a socket read that never returns, as a wedged database or API
                                      # gives (SECURITY-PLAN F12)

Apps load it with CONNECTOR_MODULES="tests.helpers.people" (worker subprocesses too).
It implements the real contract of dsr.connectors.base, so the lookup and export jobs run unchanged.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dsr.connectors.base import Connector, ConnectorError, DeclarationError, Identity, Record, SubjectRef
from dsr.connectors.registry import kind
from dsr.intake.views import RIGHT_SLUGS
from dsr.models import Right, SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, mails_to, text_of
from tests.helpers.systems import system, write_systems

MODULE = "tests.helpers.people"


@kind("test_people")
class PeopleConnector(Connector):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.settings.get("hang_after_first_batch"):
            # The export job reads a connector that has export_batches batch by batch, through a
            # read-ahead thread (as it reads the sql kind); the others record by record through export().
            self.export_batches = self._first_batch_then_hang

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> None:
        if not isinstance(settings.get("path"), str) or not settings["path"]:
            raise DeclarationError("path", "the path of the people file is required")
        for flag in ("fail", "hang_after_first_batch"):
            if not isinstance(settings.get(flag, False), bool):
                raise DeclarationError(flag, "must be true or false")
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
        """By the e-mail, and by the phone when the portal gives one (staff vouched for it)."""
        wanted = (identity.email or "").casefold()
        matches = [p for p in self._people()
                   if (wanted and str(p.get("email", "")).casefold() == wanted)
                   or (identity.phone and p.get("phone") == identity.phone)]
        return SubjectRef(
            system_key=self.key,
            keys={"people.id": [p["id"] for p in matches]} if matches else {},
            phones=[p["phone"] for p in matches if p.get("phone")],
            emails=[p["email"] for p in matches if p.get("email")],
        )

    def _found(self, ref: SubjectRef) -> list[dict[str, Any]]:
        ids = set(ref.keys.get("people.id", []))
        return [person for person in self._people() if person["id"] in ids]

    def export(self, ref: SubjectRef) -> Iterator[Record]:
        for person in self._found(ref):
            yield Record("people", dict(person))

    def _first_batch_then_hang(self, ref: SubjectRef):
        people = self._found(ref)
        columns = list(people[0]) if people else ["id"]
        yield "people", columns, {}, [tuple(person.get(column) for column in columns) for person in people]
        while True:  # the next FETCH never comes back
            time.sleep(3600)


def people_system(folder: Path, key: str, people: Sequence[Mapping[str, Any]] = (), name: str | None = None,
                  **knobs: Any) -> str:
    """Write `folder`/`key`.json and return the `[[systems]]` block of a test_people system reading it;
    `knobs`: fail, delay, gate, hang_after_first_batch."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    path.write_text(json.dumps(list(people)))
    return system(key=key, name=name or key.upper(), kind="test_people", path=str(path), **knobs)


# ------------------------------------------------------------------ helpers for the subject-side tests

KARI = {"id": 1, "email": "kari.nordmann@example.org", "phone": "+4791234789", "name": "Kari Nordmann"}
OLA = {"id": 2, "email": "ola@example.org", "name": "Ola Nordmann"}  # on file, but no phone


def use_directory(
    app_config: dict, folder: Path, systems: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    """Point the app at test_people systems, one per entry of `systems`
    ({"crm": {"people": [...], "name": ..., "fail": False, "delay": 0, "gate": ...}}); by default a CRM
    holding Kari (with phone) and Ola (without). Returns the path of systems.toml."""
    systems = systems if systems is not None else {"crm": {"name": "Test CRM", "people": [KARI, OLA]}}
    path = write_systems(folder, *(people_system(folder, key, **spec) for key, spec in systems.items()))
    app_config.update(SYSTEMS_FILE=str(path), CONNECTOR_MODULES=MODULE)
    return path


def file_request(client, right: str = "erasure", email: str = KARI["email"], lang: str = "en", **answers):
    """Send a request the way the check-your-answers page does (its hidden fields), without following."""
    data = {
        "email": email,
        "full_name": answers.pop("full_name", ""),
        "phone": answers.pop("phone", ""),
        "intake_key": answers.pop("intake_key", None) or secrets.token_urlsafe(24),
        **answers,
    }
    return client.post(f"/request/{RIGHT_SLUGS[Right(right)]}/send?lang={lang}", data=data)


def open_case(app, client, session, email: str = OLA["email"]) -> SubjectRequest:
    """File an access request in `client`'s browser, prove the address with the mailed code and let the
    lookup open the case (the CRM of use_directory knows the address): the request, as the case page shows it."""
    file_request(client, "access", email=email)
    run_jobs(app)
    request = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
    code = code_in(text_of(mails_to(app, email)[-1]))
    assert client.post(f"/verify/{request.public_id}", data={"code": code}).status_code == 303
    run_jobs(app)
    session.expire_all()
    return session.get(SubjectRequest, request.id)
