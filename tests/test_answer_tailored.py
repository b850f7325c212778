"""An answer tailored to the subject (EDPB Guidelines 01/2022): the bundle's "About this data" and index list
first the systems that hold data about them, with their facts, then the systems searched that held nothing;
the "your data is ready" letter says which is which. Real jobs on the demo systems."""
from __future__ import annotations

import json

from dsr.models import RequestStatus
from tests.helpers.bundles import (
    IN_TWO_SYSTEMS,
    archive_of,
    bundles_of,
    collected,
    page_text,
    released,
    verified_case,
)
from tests.helpers.mail import text_of
from tests.helpers.staff import officer

WITH_DATA = ["Accounting and invoicing", "Newsletter list"]
WITHOUT_DATA = ["Customer register (CRM)", "Support chat", "Shared mailbox post@fjordnett.example"]


def test_a_subject_in_two_of_five_systems_reads_those_two_first_with_their_facts_then_the_three_empty_ones(
        demo_app, demo_session):
    staff = officer(demo_session)
    case = collected(demo_app, demo_session, verified_case(demo_app, demo_session, IN_TWO_SYSTEMS), staff.id)
    assert case.status is RequestStatus.READY_FOR_REVIEW
    archive = archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.id)

    about = page_text(archive, "about-this-data.html")
    positions = [about.index(name) for name in WITH_DATA + WITHOUT_DATA]
    assert positions == sorted(positions)  # data first (the CRM is declared first), then those that held nothing
    empty_part = about[about.index("Systems where we hold no data about you"):]
    assert all(name in empty_part for name in WITHOUT_DATA)
    assert "Invoicing membership fees and courses" in about  # the accounting system's facts
    assert "Sending you our newsletter" in about  # the newsletter's
    assert "Keeping in touch with members" not in about  # no facts for a system that holds nothing
    assert "Answering your questions in the support chat" not in about

    facts = json.loads(archive.read("about-this-data.json"))
    assert [s["key"] for s in facts["systems"]] == ["accounting", "newsletter"]
    assert all(s["facts"]["purposes"] for s in facts["systems"])
    assert [s["key"] for s in facts["systems_without_data"]] == ["crm", "support_chat", "mailbox"]
    assert facts["systems_not_searched"] == []

    index = page_text(archive, "index.html")
    assert "Answered with this file" in index and "Being handled" not in index  # this file is the answer
    assert "1 record." in page_text(archive, "systems/newsletter.html")  # one line in the list, not "1 records"
    rows = index[index.index("Where we looked"):]
    assert [rows.index(name) for name in WITH_DATA + WITHOUT_DATA] == sorted(
        rows.index(name) for name in WITH_DATA + WITHOUT_DATA)


def test_the_letter_names_the_systems_that_held_data_and_those_that_held_none(smtp, demo_app, demo_session):
    staff = officer(demo_session)
    case = collected(demo_app, demo_session, verified_case(demo_app, demo_session, IN_TWO_SYSTEMS), staff.id)
    released(demo_app, demo_session, case.id, staff.id)
    letter = text_of(smtp.wait_for(IN_TWO_SYSTEMS)[-1]).replace("\r\n", "\n")
    assert "We found data about you in: Accounting and invoicing, Newsletter list." in letter
    assert ("We also searched Customer register (CRM), Support chat, Shared mailbox post@fjordnett.example, and "
            "hold no data about you there.") in letter


def test_the_norwegian_letter_says_the_same_in_norwegian(smtp, demo_app, demo_session):
    staff = officer(demo_session)
    case = collected(demo_app, demo_session,
                     verified_case(demo_app, demo_session, IN_TWO_SYSTEMS, language="nb"), staff.id)
    released(demo_app, demo_session, case.id, staff.id)
    letter = text_of(smtp.wait_for(IN_TWO_SYSTEMS)[-1]).replace("\r\n", "\n")
    assert "Vi fant opplysninger om deg i: Regnskap og fakturering, Nyhetsbrevliste." in letter
    assert "Vi søkte også i Kunderegister (CRM), Supportchat, Felles e-postkasse post@fjordnett.example, og " \
           "har ingen opplysninger om deg der." in letter
    archive = archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.id)
    about = page_text(archive, "about-this-data.html")
    assert "Systemer der vi ikke har opplysninger om deg" in about and "Formål" in about
