"""A Norwegian access case end to end on the demo systems (real jobs, the real release): its letters and its
bundle speak Norwegian only. No English sentence, no Python `None`, no "Oslo, Norway"; the bundle counts
"1 oppføring", and lists the request it answers as answered by this file (issue 15)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr.config import example_systems_file
from dsr.models import Message, MessageDirection
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

pytestmark = pytest.mark.slow

#: words of an English sentence; none is Norwegian (file names and links are removed before looking)
ENGLISH = re.compile(r"\b(the|your|you|we|our|and|request|requests|records?|None|Norway|data about)\b")
_NAMES_AND_LINKS = re.compile(r"\S+\.(json|csv|html|mbox|zip)\b|https?://\S+|\S+@\S+")


def english_in(text: str) -> list[str]:
    return ENGLISH.findall(_NAMES_AND_LINKS.sub(" ", text))


@pytest.fixture
def app_config(app_config, tmp_path):
    """The example systems file, but the shared mailbox declares neither automated decisions nor transfers
    (in English or Norwegian): the bundle must not show the English default for them."""
    text = example_systems_file().read_text()
    mailbox = text.index('key = "mailbox"')
    head, tail = text[:mailbox], text[mailbox:]
    transfers_en = ('third_country_transfers = "Microsoft Corporation, USA (sub-processor): EU-U.S. Data Privacy '
                    'Framework (Art. 45)"\n')
    transfers_nb = ('third_country_transfers = "Microsoft Corporation, USA (underleverandør): EU-US Data Privacy '
                    'Framework (art. 45)"\n')
    for line in ('automated_decisions = "None"\n', 'automated_decisions = "Ingen"\n', transfers_en, transfers_nb):
        assert line in tail, line
        tail = tail.replace(line, "")
    path = Path(tmp_path) / "systems.toml"
    path.write_text(head + tail)
    app_config["SYSTEMS_FILE"] = str(path)
    return app_config


def test_a_norwegian_access_answer_has_no_english_in_its_letters_and_bundle(smtp, demo_app, demo_session):
    staff = officer(demo_session)
    case = verified_case(demo_app, demo_session, IN_TWO_SYSTEMS, language="nb")
    case = collected(demo_app, demo_session, case, staff.id, mailbox=b"From: post@fjordnett.example\n\nHei\n")
    released(demo_app, demo_session, case.id, staff.id)

    letters = [text_of(mail) for mail in smtp.wait_for(IN_TWO_SYSTEMS)]
    stored = demo_session.scalars(sa.select(Message).where(
        Message.request_id == case.id, Message.direction == MessageDirection.TO_SUBJECT)).all()
    assert letters and stored
    for letter in letters + [message.subject_line or "" for message in stored]:
        assert english_in(letter) == [], letter
    assert any("innsyn" in letter.lower() for letter in letters)  # the right is named as the law names it
    assert all("0152 Oslo, Norge" in letter for letter in letters)  # the letterhead's address, in Norwegian

    archive = archive_of(demo_session, bundles_of(demo_session, case.id)[0], staff.id)
    index, about = page_text(archive, "index.html"), page_text(archive, "about-this-data.html")
    for page in (index, about):
        assert english_in(page) == [], english_in(page)
    assert "Ingen" in about  # the mailbox's undeclared automated decisions, in Norwegian
    assert "Postboks 458 Sentrum, 0105 Oslo, Norge" in about  # Datatilsynet's address, in the rights
    assert "Besvart med denne filen" in index and "Under behandling" not in index
    assert "Innsyn – se hvilke opplysninger vi har om deg" in index

    counts = [page_text(archive, name) for name in archive.namelist() if name.startswith("systems/")]
    shown = " ".join(counts)
    assert "1 oppføring." in shown  # the mailbox's one uploaded file is one record; the newsletter has one line
    assert not re.search(r"\b1 oppføringer\b", shown)
