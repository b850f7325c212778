"""The http kind attributes a record to the subject only on an exact e-mail match (issue 13, finding 5), and
"stay within the base URL" compares decoded, normalised path segments, not string prefixes (finding 8)."""

from __future__ import annotations

import pytest

from dsr.connectors.base import DeclarationError, Identity, PermanentConnectorError
from tests.test_connectors_http import connector, fake  # noqa: F401  (the fake API server fixture)

OLA = "ola@example.no"


# --------------------------------------------------------------------------- finding 5: exact identity match


@pytest.mark.parametrize("item", [
    {"id": 9, "phone": "+47 912 34 999"},  # no e-mail field at all
    {"id": 9, "email": None, "phone": "+47 912 34 999"},
    {"id": 9, "email": "", "phone": "+47 912 34 999"},
    {"id": 9, "email": "not an address", "phone": "+47 912 34 999"},
    {"id": 9, "email": "ola@example.no.evil.example", "phone": "+47 912 34 999"},
])
def test_a_record_without_the_subjects_exact_e_mail_is_not_theirs(fake, tmp_path, item):  # noqa: F811
    fake.json("/api/people", {"data": [item, {"id": 7, "email": "OLA@Example.no", "phone": "912 34 567"}]})
    ref = connector(fake.base, tmp_path).locate(Identity(email=OLA))
    assert ref.keys == {"key": [7]} and ref.phones == ["+4791234567"] and ref.emails == [OLA]


def test_the_configured_e_mail_field_is_the_one_compared(fake, tmp_path):  # noqa: F811
    fake.json("/api/people", {"data": [{"id": 9, "email": OLA, "phone": "+47 912 34 999"},
                                       {"id": 7, "contact": OLA, "phone": "912 34 567"}]})
    locate = {"path": "/people", "params": {"email": "{email}"}, "items": "data", "key": "id",
              "email_field": "contact", "phone_field": "phone"}
    ref = connector(fake.base, tmp_path, locate=locate).locate(Identity(email=OLA))
    assert ref.keys == {"key": [7]} and ref.phones == ["+4791234567"]


# --------------------------------------------------------------------------- finding 8: within the base URL


@pytest.mark.parametrize("location", [
    "/api-admin/people",  # shares the string prefix "/api"
    "/api/%2e%2e/admin/people",  # an encoded ".." segment
    "/api/%2E%2E/admin/people",
    "/api/.%2e/admin/people",
    "/api/people%2f..%2f..%2fadmin",  # an encoded "/" inside a segment
    "/api/people%5c..%5c..%5cadmin",  # an encoded backslash
])
def test_a_redirect_outside_the_base_path_is_not_followed(fake, tmp_path, location):  # noqa: F811
    fake.routes["/api/people"] = (302, {"Location": location}, b"")
    with pytest.raises(PermanentConnectorError, match="outside its base URL"):
        connector(fake.base, tmp_path).locate(Identity(email=OLA))
    assert [path for path, _auth in fake.seen] == ["/api/people?email=ola%40example.no"]


def test_a_next_page_outside_the_base_path_is_not_followed(fake, tmp_path):  # noqa: F811
    fake.json("/api/people", {"data": [{"id": 7, "email": OLA}]})
    fake.json("/api/people/7/tickets", {"data": [], "next": "/api/%2e%2e/admin/tickets"})
    chat = connector(fake.base, tmp_path)
    with pytest.raises(PermanentConnectorError, match="outside its base URL"):
        list(chat.export(chat.locate(Identity(email=OLA))))
    assert not any("admin" in path for path, _auth in fake.seen)


@pytest.mark.parametrize("key", ["..", "."])
def test_a_dot_segment_from_the_remote_side_never_lands_in_a_path(fake, tmp_path, key):  # noqa: F811
    fake.json("/api/people", {"data": [{"id": key, "email": OLA}]})
    fake.json("/admin", {"data": [{"id": 1, "secret": "x"}]})
    collections = [{"name": "tickets", "path": "/{key}/admin", "items": "data"}]
    chat = connector(fake.base, tmp_path, collections=collections)
    with pytest.raises(PermanentConnectorError, match="usable"):
        list(chat.export(chat.locate(Identity(email=OLA))))
    assert not any(path.startswith("/admin") for path, _auth in fake.seen)


def test_a_child_collection_value_that_is_a_dot_segment_is_refused(fake, tmp_path):  # noqa: F811
    fake.json("/api/people", {"data": [{"id": 7, "email": OLA}]})
    fake.json("/api/people/7/tickets", {"data": [{"ticket": ".."}]})
    collections = [
        {"name": "tickets", "path": "/people/{key}/tickets", "items": "data"},
        {"name": "notes", "parent": "tickets", "path": "/people/7/tickets/{ticket}/../../../../admin", "items": "data"},
    ]
    with pytest.raises(DeclarationError, match="path"):  # the declaration itself refuses ".." in a path
        connector(fake.base, tmp_path, collections=collections)
    collections[1]["path"] = "/{ticket}/admin"
    chat = connector(fake.base, tmp_path, collections=collections)
    with pytest.raises(PermanentConnectorError, match="usable"):
        list(chat.export(chat.locate(Identity(email=OLA))))
    assert not any(path.startswith("/admin") for path, _auth in fake.seen)


def test_paths_below_the_base_path_are_within(fake, tmp_path):  # noqa: F811
    fake.routes["/api/people"] = (301, {"Location": "/api/v2/people"}, b"")
    fake.json("/api/v2/people", {"data": [{"id": 7, "email": OLA}]})
    assert connector(fake.base, tmp_path).locate(Identity(email=OLA)).keys == {"key": [7]}
