"""The http kind acts through its declared endpoints: plan, apply (idempotent) and prove for erasure,
rectification, restriction and its lift, and unsubscribing, against the demo support-chat API running
for real in a thread, with the `support_chat` declaration of the example systems file."""
from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from dsr import REPO_ROOT
from dsr.connectors.base import (
    Action,
    Change,
    ConnectorContext,
    ConnectorError,
    Identity,
    PermanentConnectorError,
    Plan,
    SubjectRef,
)
from dsr.connectors.http import HttpConnector
from dsr.connectors.http_actions import render_body
from dsr.connectors.registry import build_systems
from dsr.controller import SystemsFileError, load_systems_file
from dsr.demo_systems.chat_server import start_in_thread
from dsr.demo_systems.people import KARI

TOKEN = "test-chat-token"
TODAY = date(2026, 12, 6)
EXAMPLE = (REPO_ROOT / "instance" / "systems.example.toml").read_text()
BASE = EXAMPLE.split("[[systems]]")[0]
CHAT_BLOCK = "[[systems]]" + next(part for part in EXAMPLE.split("[[systems]]")[1:] if 'key = "support_chat"' in part)


@pytest.fixture
def server():
    chat = start_in_thread(TOKEN)
    yield chat
    chat.shutdown()
    chat.server_close()


def build(tmp_path: Path, server, block: str = CHAT_BLOCK, **environ) -> HttpConnector:
    path = tmp_path / "systems.toml"
    path.write_text(BASE + block)
    context = ConnectorContext(instance_path=tmp_path, storage_dir=tmp_path,
                               environ={"DSR_DEMO_CHAT_URL": server.url if server else "http://127.0.0.1:9/api/v1",
                                        "DSR_DEMO_CHAT_TOKEN": TOKEN, **environ})
    return build_systems(load_systems_file(path), context)["support_chat"].connector


def located(chat: HttpConnector) -> SubjectRef:
    ref = chat.locate(Identity(email=KARI))
    assert ref.found
    return ref


def test_the_example_declares_every_action_with_what_unsubscribe_stops_and_who_is_told(tmp_path, server):
    path = tmp_path / "systems.toml"
    path.write_text(BASE + CHAT_BLOCK)
    context = ConnectorContext(instance_path=tmp_path, storage_dir=tmp_path, environ={})
    system = build_systems(load_systems_file(path), context)["support_chat"]
    chat = system.connector
    assert chat.actions() == frozenset(Action)
    assert [p.key for p in chat.processing()] == ["chat_marketing"]
    assert chat.processing()[0].bases == {"consent", "direct_marketing"}
    assert chat.rectifiable() == {"customer": ["name", "phone"]}
    assert system.recipients[0].name == "Intercom R&D Unlimited Company (chat service)"


def test_erasure_deletes_the_customer_with_their_transcripts_and_the_proof_finds_nothing(tmp_path, server):
    chat = build(tmp_path, server)
    ref = located(chat)
    key = ref.keys["key"][0]
    exported = list(chat.export(ref))
    conversations = [r.data["id"] for r in exported if r.collection == "conversations"]
    assert conversations and any(r.collection == "messages" for r in exported)

    plan = chat.plan(ref, Action.ERASE, {}, TODAY)
    [change] = plan.changes
    assert (change.operation, change.keys, change.count) == ("call", [key], 1 + len(exported))
    assert change.text.startswith("DELETE /customers/{key}: the customer record")
    assert f"{len(conversations)} conversations" in change.text
    assert KARI not in str(plan.to_json())
    assert not chat.prove(ref, plan).ok  # nothing done yet: the proof says so

    stored = Plan.from_json(plan.to_json())  # the plan is stored on the task between plan and apply
    assert chat.apply(ref, stored) == 1
    assert KARI not in server.customers and key not in server.conversations
    assert not any(c in server.messages for c in conversations)
    proof = chat.prove(ref, stored)
    assert proof.ok and proof.found == {"customer": 0} and proof.problems == []

    assert chat.apply(ref, stored) == 0  # the second DELETE answers 404: already gone
    assert chat.prove(ref, stored).ok and not chat.locate(Identity(email=KARI)).found


def test_rectification_changes_only_the_fields_given_and_a_second_apply_makes_no_call(tmp_path, server):
    chat = build(tmp_path, server)
    ref = located(chat)
    name = server.customers[KARI]["name"]
    plan = chat.plan(ref, Action.RECTIFY, {"values": {"customer": {"phone": "+47 400 00 001"}}}, TODAY)
    [change] = plan.changes
    assert (change.values, change.fields, change.text) == ({"phone": "+47 400 00 001"}, ["phone"],
                                                           "PATCH /customers/{key}: phone")
    assert not chat.prove(ref, plan).ok

    assert chat.apply(ref, plan) == 1
    assert server.customers[KARI]["phone"] == "+47 400 00 001"
    assert server.customers[KARI]["name"] == name  # the name member of the body was left out
    assert chat.prove(ref, plan).ok

    before = server.requests
    assert chat.apply(ref, plan) == 0
    assert server.requests == before + 1  # the lookup that saw the new value; no PATCH
    assert chat.plan(ref, Action.RECTIFY, {"values": {}}, TODAY).empty
    with pytest.raises(PermanentConnectorError, match=r"customer\.email may not be rectified"):
        chat.plan(ref, Action.RECTIFY, {"values": {"customer": {"email": "new@example.no"}}}, TODAY)
    with pytest.raises(PermanentConnectorError, match="only its customer record"):
        chat.plan(ref, Action.RECTIFY, {"values": {"messages": {"text": "x"}}}, TODAY)


def test_restriction_and_its_lift_set_the_flag_and_the_proof_reads_it_back(tmp_path, server):
    chat = build(tmp_path, server)
    ref = located(chat)
    restrict = chat.plan(ref, Action.RESTRICT, {}, TODAY)
    assert [(c.operation, c.text) for c in restrict.changes] == [("call", "POST /customers/{key}/restrict")]
    proof = chat.prove(ref, restrict)
    assert not proof.ok and proof.problems == ["customer: 1 record(s) not restricted as planned"]

    assert chat.apply(ref, restrict) == 1
    assert server.customers[KARI]["restricted"] is True
    assert chat.prove(ref, restrict).ok
    assert chat.apply(ref, restrict) == 0

    lift = chat.plan(ref, Action.LIFT_RESTRICTION, {}, TODAY)
    assert chat.apply(ref, lift) == 1
    assert server.customers[KARI]["restricted"] is False
    assert chat.prove(ref, lift).ok and not chat.prove(ref, restrict).ok


def test_unsubscribe_stops_the_declared_processing_only_when_it_is_asked_for(tmp_path, server):
    chat = build(tmp_path, server)
    ref = located(chat)
    assert server.customers[KARI]["marketing_emails"] is True
    assert chat.plan(ref, Action.STOP, {"processing": ["newsletter"]}, TODAY).empty  # not a processing here

    plan = chat.plan(ref, Action.STOP, {"processing": ["newsletter", "chat_marketing"]}, TODAY)
    assert [c.text for c in plan.changes] == ["POST /customers/{key}/unsubscribe: stops chat_marketing"]
    assert chat.apply(ref, plan) == 1
    assert server.customers[KARI]["marketing_emails"] is False
    assert chat.prove(ref, plan).ok
    assert chat.apply(ref, plan) == 0 and chat.prove(ref, plan).ok


def test_a_subject_the_system_does_not_hold_gets_empty_plans(tmp_path, server):
    chat = build(tmp_path, server)
    ref = chat.locate(Identity(email="nobody@example.no"))
    for action in Action:
        plan = chat.plan(ref, action, {"values": {"customer": {"name": "X"}}, "processing": ["chat_marketing"]},
                         TODAY)
        assert plan.empty and chat.apply(ref, plan) == 0 and chat.prove(ref, plan).ok


def test_a_server_error_is_retryable_and_the_retry_finishes_the_work(tmp_path, server):
    chat = build(tmp_path, server)
    ref = located(chat)
    plan = chat.plan(ref, Action.ERASE, {}, TODAY)
    server.fail_next = 1
    with pytest.raises(ConnectorError, match="answered erase with HTTP 500") as caught:
        chat.apply(ref, plan)
    assert not isinstance(caught.value, PermanentConnectorError)
    assert KARI in server.customers
    assert chat.apply(ref, plan) == 1 and chat.prove(ref, plan).ok


@pytest.mark.parametrize(("action", "details", "status", "endpoint"), [
    (Action.RECTIFY, {"values": {"customer": {"name": "Kari Nordmann-Berg", "nickname": "Kari N"}}}, 400, "update"),
    (Action.RESTRICT, {}, 403, "restrict"),
])
def test_a_refusal_is_permanent_and_its_message_holds_no_personal_data(tmp_path, server, action, details, status,
                                                                         endpoint):
    # The demo API takes only name, phone and email (400 otherwise); a read-only token is refused (403).
    block = CHAT_BLOCK.replace('rectify = ["name", "phone"]', 'rectify = ["name", "phone", "nickname"]')
    chat = build(tmp_path, server, block.replace('"{value:phone}" }', '"{value:phone}", nickname = "{value:nickname}" }'))
    ref = located(chat)
    plan = chat.plan(ref, action, details, TODAY)
    server.read_only = status == 403
    with pytest.raises(PermanentConnectorError) as caught:
        chat.apply(ref, plan)
    message = str(caught.value)
    assert message == f"system support_chat refused {endpoint} with HTTP {status}"
    for private in (KARI, "Kari", ref.keys["key"][0], "/api", "/customers"):
        assert private not in message


def test_a_key_that_would_climb_out_of_the_base_url_is_never_called(tmp_path, server):
    chat = build(tmp_path, server)
    plan = Plan(system_key="support_chat", action="restrict", changes=[Change("customer", "call", 1, keys=[".."])])
    before = server.requests
    # Refused as an unusable key (the connector's value check) before the URL is even built.
    with pytest.raises(PermanentConnectorError, match="unusable key|outside the base URL"):
        chat.apply(SubjectRef("support_chat", keys={"key": [".."]}), plan)
    assert server.requests == before


def test_calls_are_paced_by_the_rate_limit(tmp_path, server):
    chat = build(tmp_path, server, CHAT_BLOCK.replace("rate_limit = 20", "rate_limit = 5"))
    started = time.monotonic()
    ref = located(chat)  # one lookup; apply reads the record again, then calls: three requests
    chat.apply(ref, chat.plan(ref, Action.RESTRICT, {}, TODAY))
    assert time.monotonic() - started >= 2 / 5


def test_body_templates_fill_placeholders_and_leave_out_fields_not_being_changed():
    template = {"id": "{key}", "contact": {"email": "{email}", "note": "for {email}"}, "name": "{value:name}",
                "phone": "{value:phone}", "tags": ["{value:name}", "dsr"], "notify": True}
    fills = {"key": 7, "email": "ola@example.no", "value:name": "Ola"}
    assert render_body(template, fills) == {"id": 7, "contact": {"email": "ola@example.no",
                                                                 "note": "for ola@example.no"},
                                            "name": "Ola", "tags": ["Ola", "dsr"], "notify": True}
    with pytest.raises(LookupError):
        render_body({"note": "call {value:phone}"}, fills)


# ---------------------------------------------------------------------- start-up refusals


@pytest.mark.parametrize("path", ["/../admin/{key}", "//evil.example/{key}", "/customers/%2e%2e/{key}",
                                  "/customers/{key}?all=1", "/customers/.hidden/{key}", "customers/{key}"])
def test_an_endpoint_path_that_would_leave_the_base_url_is_refused_at_start_up(tmp_path, path):
    line = f'erase = {{ method = "DELETE", path = "{path}", expect = [204, 404] }}'
    text = CHAT_BLOCK.replace('erase = { method = "DELETE", path = "/customers/{key}", expect = [204, 404] }', line)
    assert line in text
    with pytest.raises(SystemsFileError) as caught:
        build(tmp_path, None, text)
    assert caught.value.key == "systems[0].actions.erase.path" and "base URL" in caught.value.problem
    assert caught.value.line == (BASE + text).splitlines().index(line) + 1


UPDATE = ('update = { method = "PATCH", path = "/customers/{key}", body = { name = "{value:name}", '
          'phone = "{value:phone}" }, expect = [200] }')
RESTRICT = 'restrict = { method = "POST", path = "/customers/{key}/restrict", expect = [200], shows = { restricted = true } }'
PROCESSING = '''[[systems.processing]]
key = "chat_marketing"'''


@pytest.mark.parametrize(("old", "new", "key"), [
    ('method = "DELETE"', 'method = "GET"', "actions.erase.method"),
    ("expect = [204, 404]", "expect = [302]", "actions.erase.expect"),
    ('path = "/customers/{key}", expect = [204, 404]', 'path = "/customers", expect = [204, 404]',
     "actions.erase.path"),
    ('path = "/customers/{key}", expect = [204, 404]', 'path = "/customers/{email}", expect = [204, 404]',
     "actions.erase.path"),
    ("expect = [204, 404] }", "expect = [204, 404], timeout = 3 }", "actions.erase.timeout"),
    ("expect = [204, 404] }", "expect = [204, 404], shows = { gone = true } }", "actions.erase.shows"),
    ("[systems.actions]\n", '[systems.actions]\npurge = { method = "DELETE", path = "/x/{key}" }\n', "actions.purge"),
    (UPDATE, UPDATE.replace("{value:phone}", "{value:email}"), "actions.update.body"),
    (UPDATE, UPDATE.replace(', phone = "{value:phone}"', ""), "actions.update.body"),
    (RESTRICT, RESTRICT.replace("expect = [200]", 'body = { by = "{phone}" }'), "actions.restrict.body"),
    ('rectify = ["name", "phone"]', "rectify = []", "rectify"),
    ('rectify = ["name", "phone"]  #', "#", "actions.update"),
    (UPDATE + "\n", "", "rectify"),
    (PROCESSING, PROCESSING + '\ntable = "consents"', "processing[0].table"),
])
def test_a_wrong_action_declaration_names_the_key(tmp_path, old, new, key):
    assert old in CHAT_BLOCK
    with pytest.raises(SystemsFileError) as caught:
        build(tmp_path, None, CHAT_BLOCK.replace(old, new))
    assert caught.value.key == f"systems[0].{key}"


def test_unsubscribe_without_a_declared_processing_is_refused(tmp_path):
    start = CHAT_BLOCK.index("# What the unsubscribe call stops.")
    end = CHAT_BLOCK.index("[[systems.notify]]")
    with pytest.raises(SystemsFileError) as caught:
        build(tmp_path, None, CHAT_BLOCK[:start] + CHAT_BLOCK[end:])
    assert caught.value.key == "systems[0].actions.unsubscribe" and "processing" in caught.value.problem
