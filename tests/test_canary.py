"""The nightly canary on the vendors' stand-ins, with real workers: every system with a test identity is
looked up and exported; a system that stops answering, loses the test identity or answers in another
shape is shown on the dashboard and mailed to officers once, and the first good night clears it."""
from __future__ import annotations

import sqlalchemy as sa

from dsr.canary.service import canary_system, schedule_canaries
from dsr.demo_systems.vendors.base import CANARY
from dsr.demo_systems.vendors.mailchimp import subscriber_hash
from dsr.models import Message, SystemCanary
from dsr.queue import defer
from tests.helpers.jobs import run_jobs
from tests.helpers.staff import enrolled_staff, login
from tests.helpers.staff import officer as add_officer

CHECKED = ("crm", "newsletter", "support", "app_chat", "accounting", "mailbox", "analytics")


def _night(app, session, *keys: str) -> dict[str, SystemCanary]:
    """One night: the periodic job (or, with keys, those systems' own jobs), run by a real worker."""
    if keys:
        for key in keys:
            defer(session, canary_system, key)
    else:
        defer(session, schedule_canaries)
    session.commit()
    run_jobs(app)
    session.expire_all()
    return {row.system_key: row for row in session.scalars(sa.select(SystemCanary))}


def _alerts(session) -> list[Message]:
    session.expire_all()
    return list(session.scalars(sa.select(Message).where(Message.template == "staff_system_canary")))


def test_every_system_with_a_test_identity_is_looked_up_and_exported_each_night(vendor_app, vendor_session,
                                                                               vendors):
    rows = _night(vendor_app, vendor_session)
    assert sorted(rows) == sorted(CHECKED)  # the pixels have no test identity: a person searches them
    for key, row in rows.items():
        assert row.ok and row.problem is None, (key, row.problem)
        assert sum(row.records.values()) >= 1 and row.shape, key
    assert rows["crm"].shape["contact"][:3] == ["archived", "company", "createdAt"]  # field names, no values
    assert ("POST", "/crm/v3/objects/contacts/search") in vendors["hubspot"].calls
    assert _alerts(vendor_session) == []


def test_a_system_that_stops_answering_is_on_the_dashboard_and_mailed_once(vendor_app, vendor_session, vendors):
    session = vendor_session
    staff, secret = enrolled_staff(session, vendor_app)
    _night(vendor_app, session, "crm")
    hubspot = vendors["hubspot"]
    hubspot.unavailable, hubspot.retry_after = 1000, 600  # down, and asking for more than we wait

    row = _night(vendor_app, session, "crm")["crm"]
    assert not row.ok and row.failing_since is not None
    assert row.problem == "system crm answered lookup with HTTP 503 (it asks to wait 600 s)"
    [alert] = _alerts(session)
    assert alert.to_address == staff.email and alert.subject_line == "Connected system needs a look: HubSpot CRM"
    assert "HTTP 503" in alert.body_text and "flask dsr systems check crm" in alert.body_text

    client = vendor_app.test_client()
    login(client, staff, secret)
    page = client.get("/staff/dashboard").get_data(as_text=True)
    assert "1 system failed the nightly check" in page and "HTTP 503" in page

    _night(vendor_app, session, "crm")
    assert len(_alerts(session)) == 1  # still down: told once
    hubspot.unavailable = 0
    row = _night(vendor_app, session, "crm")["crm"]
    assert row.ok and row.failing_since is None and row.alerted_at is None
    assert "failed the nightly check" not in client.get("/staff/dashboard").get_data(as_text=True)


def test_an_answer_in_another_shape_or_without_the_test_identity_is_a_problem(vendor_app, vendor_session, vendors):
    session = vendor_session
    add_officer(session)
    _night(vendor_app, session, "newsletter", "app_chat")
    member = vendors["mailchimp"].members[subscriber_hash(CANARY)]
    del member["stats"], member["vip"]  # the vendor changed its answer

    rows = _night(vendor_app, session, "newsletter", "app_chat")
    assert rows["newsletter"].problem == "the answer changed shape: member lacks stats, vip"
    assert rows["app_chat"].ok
    assert [a.subject_line for a in _alerts(session)] == ["Connected system needs a look: Newsletter (Mailchimp)"]
    assert _night(vendor_app, session, "newsletter")["newsletter"].ok  # the new shape is the one compared now

    intercom = vendors["intercom"]
    for key in [k for k, c in intercom.contacts.items() if c["email"] == CANARY]:
        del intercom.contacts[key]
    row = _night(vendor_app, session, "app_chat")["app_chat"]
    assert not row.ok and row.problem.startswith("the test identity was not found")
