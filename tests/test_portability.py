"""Portability (Art. 20): what the bundle holds by the data map (provided and observed data, never derived,
`portable` to leave observed data out), and Art. 20(2): the bundle sent to the controller the subject
named, which downloads it only after proving its address with a code."""
from __future__ import annotations

import io
import sqlite3
import zipfile

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.connectors.registry import build_systems
from dsr.controller import SystemsFileError, load_systems_file
from dsr.db import get_db
from dsr.models import AuditEvent, BundleStatus, BundleTransmission, Message, RequestStatus, Right
from tests.helpers.bundles import archive_of, bundles_of, collected, officer_client, records, verified_case
from tests.helpers.export import KARI, approve
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, text_of
from tests.helpers.staff import officer
from tests.helpers.systems import system, write_systems

RECEIVER = "personvern@fjellbygg.example"

SHOP = system(
    key="shop", name="Web shop", kind="sql", url="sqlite:///{instance}/shop.sqlite3",
    tables=[{"name": "customers", "identity": {"email": "email"},
             "fields": {"email": {"origin": "provided"}, "name": {"origin": "provided"},
                        "last_login": {"origin": "observed"}, "risk_score": {"origin": "derived"},
                        "internal_flag": {"origin": "observed", "portable": False}}},
            {"name": "orders", "links": [{"column": "customer_id", "to": "customers.id"}],
             "default_origin": "observed"},
            {"name": "staff_notes", "links": [{"column": "customer_id", "to": "customers.id"}],
             "default_origin": "observed", "portable": False}],
)


@pytest.fixture
def shop_app(app_config, tmp_path):
    db = sqlite3.connect(tmp_path / "instance" / "shop.sqlite3")
    db.executescript(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT, last_login TEXT, risk_score REAL,"
        " internal_flag INTEGER);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, item TEXT, ordered_at TEXT);"
        "CREATE TABLE staff_notes (id INTEGER PRIMARY KEY, customer_id INTEGER, note TEXT);")
    db.execute("INSERT INTO customers VALUES (1, ?, 'Kari Nordmann', '2026-11-30T08:00', 0.7, 1)", (KARI,))
    db.execute("INSERT INTO orders VALUES (10, 1, 'Kurs', '2026-10-01')")
    db.execute("INSERT INTO staff_notes VALUES (20, 1, 'Called about Ola Hansen''s invoice')")
    db.commit()
    db.close()
    app_config["SYSTEMS_FILE"] = str(write_systems(tmp_path / "config", SHOP))
    app = create_app(app_config)
    yield app
    get_db(app).dispose()


def test_a_portability_bundle_holds_provided_and_observed_fields_and_nothing_derived(shop_app):
    with shop_app.app_context(), get_db(shop_app).session() as session:
        case = verified_case(shop_app, session, KARI, right=Right.PORTABILITY)
        approve(session, case)
        run_jobs(shop_app)
        archive = archive_of(session, bundles_of(session, case.id)[0], officer(session).id)
    customer = records(archive, "data/shop/customers.json")[0]
    assert customer == {"id": 1, "email": KARI, "name": "Kari Nordmann", "last_login": "2026-11-30T08:00"}
    assert records(archive, "data/shop/orders.json") == [
        {"id": 10, "customer_id": 1, "item": "Kurs", "ordered_at": "2026-10-01"}]  # observed: in by default
    assert not [name for name in archive.namelist() if "staff_notes" in name]  # declared portable = false


def test_an_access_bundle_still_holds_everything(shop_app):
    with shop_app.app_context(), get_db(shop_app).session() as session:
        case = verified_case(shop_app, session, KARI)
        approve(session, case)
        run_jobs(shop_app)
        archive = archive_of(session, bundles_of(session, case.id)[0], officer(session).id)
    assert {"risk_score", "internal_flag"} <= set(records(archive, "data/shop/customers.json")[0])
    assert records(archive, "data/shop/staff_notes.json")


@pytest.mark.parametrize(("block", "key"), [
    (system(key="shop", name="Shop", kind="sql", url="sqlite:///x.db",
            tables=[{"name": "customers", "identity": {"email": "email"},
                     "fields": {"score": {"origin": "derived", "portable": True}}}]),
     "systems[0].tables[0].fields.score.portable"),
    (system(key="shop", name="Shop", kind="sql", url="sqlite:///x.db",
            tables=[{"name": "customers", "identity": {"email": "email"}, "portable": "no"}]),
     "systems[0].tables[0].portable"),
    (system(key="list", name="List", kind="files", path="list.csv", identity={"email": "email"},
            fields={"segment": {"origin": "derived", "portable": True}}),
     "systems[0].fields.segment.portable"),
    (system(key="chat", name="Chat", kind="http", base_url="http://127.0.0.1:9/api",
            locate={"path": "/customers", "key": "id"},
            collections=[{"name": "messages", "path": "/customers/{key}/messages",
                          "fields": {"mood": {"origin": "derived", "portable": True}}}]),
     "systems[0].collections[0].fields.mood.portable"),
])
def test_derived_data_declared_portable_or_a_setting_not_true_or_false_stops_start_up(tmp_path, block, key):
    with pytest.raises(SystemsFileError) as caught:
        build_systems(load_systems_file(write_systems(tmp_path, block)), None)
    assert caught.value.key == key


# --- Art. 20(2): to the receiving controller ------------------------------------------------------------


@pytest.fixture
def portability_case(demo_app, demo_session):
    staff = officer(demo_session, "reviewer@fjordnett.example")
    case = verified_case(demo_app, demo_session, KARI, right=Right.PORTABILITY,
                         details={"receiving_service": "Fjellbygg AS"})
    return collected(demo_app, demo_session, case, staff.id)


def _audit(session, case) -> list[AuditEvent]:
    return session.scalars(sa.select(AuditEvent).where(AuditEvent.request_id == case.id).order_by(AuditEvent.seq)).all()


def test_a_wrong_receiver_address_is_refused_with_a_message_and_nothing_is_sent(smtp, demo_app, demo_session,
                                                                              portability_case):
    case = portability_case
    staff = officer_client(demo_app, demo_session)
    page = staff.get(f"/staff/cases/{case.id}/bundle/send")
    assert page.status_code == 200 and 'value="Fjellbygg AS"' in page.get_data(as_text=True)
    refused = staff.post(f"/staff/cases/{case.id}/bundle/send", data={"name": "Fjellbygg AS", "email": "fjellbygg"})
    assert refused.status_code == 400
    assert "Enter an e-mail address in the right format" in refused.get_data(as_text=True)
    demo_session.expire_all()
    assert demo_session.scalars(sa.select(BundleTransmission)).all() == []
    assert bundles_of(demo_session, case.id)[0].status is BundleStatus.READY_FOR_REVIEW


def test_the_receiver_gets_the_bundle_only_after_proving_its_address_and_the_subject_is_told(
        smtp, demo_app, demo_session, portability_case):
    case = portability_case
    staff = officer_client(demo_app, demo_session)
    sent = staff.post(f"/staff/cases/{case.id}/bundle/send", data={"name": "Fjellbygg AS", "email": RECEIVER})
    assert sent.status_code == 302
    run_jobs(demo_app)
    demo_session.expire_all()
    bundle = bundles_of(demo_session, case.id)[0]
    assert bundle.status is BundleStatus.RELEASED  # sending released the reviewed bundle
    assert demo_session.get(type(case), case.id).status is RequestStatus.COMPLETED

    told = text_of(smtp.wait_for(KARI)[-1])
    assert "Fjellbygg AS" in told and RECEIVER in told and "Art. 20(2)" in told
    invitation = text_of(smtp.wait_for(RECEIVER)[-1])
    token = invitation.split("/receive/")[1].split()[0]
    receiver = demo_app.test_client()
    assert receiver.get(f"/receive/{token}").status_code == 200

    guessed = receiver.post(f"/receive/{token}/code", data={"code": "123456"})
    assert guessed.status_code == 400 and guessed.mimetype == "text/html"  # no code sent yet: no file
    assert receiver.post(f"/receive/{token}/send-code").status_code == 303
    run_jobs(demo_app)
    code = code_in(text_of(smtp.wait_for(RECEIVER, count=2)[-1]))
    stranger = demo_app.test_client()  # the right code, from another browser than the one that asked
    assert stranger.post(f"/receive/{token}/code", data={"code": code}).mimetype == "text/html"
    download = receiver.post(f"/receive/{token}/code", data={"code": code})
    assert download.status_code == 200 and download.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert records(archive, "data/crm/contacts.json")[0]["email"] == KARI
    # The page the receiver stayed on says, once reloaded, that the file went out and under which name.
    confirmed = receiver.get(f"/receive/{token}/code?lang=en").get_data(as_text=True)
    assert "You downloaded the data on" in confirmed and f"{case.reference}-portability.zip" in confirmed

    actions = [event.action for event in _audit(demo_session, case)]
    assert "bundle.sent_to_receiver" in actions and actions.count("bundle.receiver_downloaded") == 1
    assert not any(RECEIVER in str(event.details) for event in _audit(demo_session, case))
    letters = demo_session.scalars(sa.select(Message.template).where(Message.request_id == case.id)).all()
    assert {"receiver_invitation", "receiver_code", "data_sent"} <= set(letters)


def test_an_unknown_receiver_link_is_not_found(demo_app):
    assert demo_app.test_client().get("/receive/not-a-real-token-at-all").status_code == 404
