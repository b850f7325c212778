"""Issue 3's journey on the demo systems the run command ships: the SMS code goes to the phone on file in
the demo CRM (a real `sql` connector on its SQLite database), never to the number typed in the form."""
from __future__ import annotations

from pathlib import Path

import phonenumbers
import pytest

from dsr.demo_systems.build import ensure_demo_data
from dsr.demo_systems.people import people
from tests.browser.test_subject_journey import erasure_in_norwegian


@pytest.fixture
def portal_config(portal_config, chat):  # noqa: F811
    ensure_demo_data(Path(portal_config["INSTANCE_PATH"]))  # the example systems file's data
    return portal_config


def test_erasure_in_norwegian_steps_up_to_the_phone_in_the_demo_crm(portal, page, shots):
    kari = people()[0]  # Kari Nordmann: in every demo system, with a phone in the CRM
    on_file = phonenumbers.format_number(phonenumbers.parse(kari.phone, "NO"), phonenumbers.PhoneNumberFormat.E164)
    request = erasure_in_norwegian(portal, page, shots, name=f"{kari.first_name} {kari.last_name}",
                                   email=kari.email, phone=on_file)
    assert request.right.value == "erasure"
