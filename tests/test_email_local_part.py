"""An e-mail address whose local part (before the @) is over 64 characters (RFC 5321 4.5.3.1.1) is refused on
its field, in the page's language, and nothing is stored (issue 13, finding 18)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dsr.models import SubjectRequest
from tests.helpers.people import file_request, use_directory


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "The part before the @ must be 64 characters or fewer"),
        ("nb", "Delen før @ kan ikke være lengre enn 64 tegn"),
    ],
)
def test_a_local_part_over_64_characters_is_refused_in_the_pages_language(client, session, lang, message):
    response = file_request(client, "access", email="k" * 65 + "@example.org", lang=lang)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(rf'id="email-error">.*{re.escape(message)}', html, re.DOTALL), html[:2000]
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0


def test_a_local_part_of_exactly_64_characters_is_accepted(client, session):
    response = file_request(client, "access", email="k" * 64 + "@example.org")
    assert response.status_code == 303
    assert session.scalar(sa.select(SubjectRequest.email)) == "k" * 64 + "@example.org"
