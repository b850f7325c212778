"""Each staff member chooses the language of the staff pages (issue 15): a Norwegian controller's
privacy staff work in Norwegian, a colleague beside them can keep English."""

from __future__ import annotations

import re

import sqlalchemy as sa

from dsr.models import AuditEvent, StaffUser
from tests.helpers.staff import enrolled_staff, login


def _csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def test_a_staff_member_chooses_norwegian_and_a_colleague_keeps_english(app, session):
    kari, kari_secret = enrolled_staff(session, app, email="kari@fjordnett.example")
    ola, ola_secret = enrolled_staff(session, app, email="ola@fjordnett.example")
    kari_client, ola_client = app.test_client(), app.test_client()
    login(kari_client, kari, kari_secret)
    login(ola_client, ola, ola_secret)

    queue = kari_client.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/account/language" lang="nb"' in queue  # the header's language choice leads to the account
    page = kari_client.get("/staff/account/language")
    assert page.status_code == 200 and b"Language of the staff pages" in page.data
    chosen = kari_client.post("/staff/account/language", data={"language": "nb", "csrf_token": _csrf(page.data)},
                              follow_redirects=True)
    assert "Sidene for personvernteamet vises nå på dette språket." in chosen.get_data(as_text=True)
    assert '<html lang="nb"' in kari_client.get("/staff/").get_data(as_text=True)

    assert '<html lang="en"' in ola_client.get("/staff/").get_data(as_text=True)
    session.expire_all()
    assert session.get(StaffUser, kari.id).language == "nb" and session.get(StaffUser, ola.id).language is None
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staff.language_changed")).one()
    assert event.actor_id == str(kari.id)


def test_a_language_the_portal_does_not_offer_is_refused_and_changes_nothing(app, session):
    user, secret = enrolled_staff(session, app)
    client = app.test_client()
    login(client, user, secret)
    page = client.get("/staff/account/language")
    refused = client.post("/staff/account/language", data={"language": "de", "csrf_token": _csrf(page.data)})
    assert refused.status_code == 200 and b"Not a valid choice" in refused.data
    session.expire_all()
    assert session.get(StaffUser, user.id).language is None
