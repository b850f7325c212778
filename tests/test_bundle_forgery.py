"""`flask dsr bundle-verify` on forged bundles (issue 13, findings 4 and 17): a second member of the same name,
a local header the central directory does not describe, a flipped byte in any member's compressed data, or
another signing key never gets a plain OK; and the controller's key fingerprint, which the subject compares,
is in the "your data is ready" letter and on the bundle's index page."""

from __future__ import annotations

import base64
import io
import secrets
import struct
import warnings
import zipfile
from datetime import UTC, datetime

import pytest

from dsr.bundle import signing
from dsr.bundle.content import members
from dsr.export import storage
from dsr.notify.service import render_letter
from tests.test_bundle import _bundle

FILES = {"index.html": b"<h1>Your data</h1>" * 50, "data/crm/contacts.csv": b"id,name\r\n1,Kari\r\n" * 40}


@pytest.fixture
def genuine(app) -> bytes:
    return _bundle(FILES, seed=app.config["SIGNING_KEY"])


def _verify(runner, tmp_path, data: bytes, *args: str):
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return runner.invoke(args=["dsr", "bundle-verify", str(path), *args])


def _assert_bad(result, path: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert result.stdout.strip() == f"BAD {path}", result.output


def test_the_genuine_bundle_is_ok_and_says_which_key_was_compared(runner, tmp_path, genuine, app):
    result = _verify(runner, tmp_path, genuine)
    fingerprint = signing.installation_fingerprint(app.config["SIGNING_KEY"])
    assert (result.exit_code, result.stdout.strip()) == (0, "OK")
    assert fingerprint in result.stderr and "this installation's bundle-signing key" in result.stderr


def test_a_forged_member_of_the_same_name_before_the_genuine_one_is_refused(runner, tmp_path, genuine):
    source = zipfile.ZipFile(io.BytesIO(genuine))
    forged = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(forged, "w", zipfile.ZIP_DEFLATED) as target:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, and writes it
        target.writestr("index.html", b"<h1>Send your password to evil.example</h1>")
        for name in source.namelist():
            target.writestr(source.getinfo(name), source.read(name))
    assert [n for n in zipfile.ZipFile(forged).namelist() if n == "index.html"] == ["index.html"] * 2
    _assert_bad(_verify(runner, tmp_path, forged.getvalue()), "index.html")


def test_a_member_hidden_in_front_of_the_central_directorys_members_is_refused(runner, tmp_path, genuine):
    lure = io.BytesIO()
    with zipfile.ZipFile(lure, "w", zipfile.ZIP_DEFLATED) as target:
        target.writestr("index.html", b"<h1>Send your password to evil.example</h1>")
    local_part = lure.getvalue()[:zipfile.ZipFile(lure).start_dir]  # its local header and data only
    forged = local_part + genuine  # zipfile shifts every offset and reads the genuine members as before
    assert zipfile.ZipFile(io.BytesIO(forged)).read("index.html") == FILES["index.html"]
    _assert_bad(_verify(runner, tmp_path, forged), "index.html")


def test_a_local_header_that_contradicts_the_central_directory_is_refused(runner, tmp_path, genuine):
    archive = zipfile.ZipFile(io.BytesIO(genuine))
    info = archive.getinfo("data/crm/contacts.csv")
    forged = bytearray(genuine)
    struct.pack_into("<H", forged, info.header_offset + 8, zipfile.ZIP_STORED)  # the method field
    _assert_bad(_verify(runner, tmp_path, bytes(forged)), "data/crm/contacts.csv")


def test_a_flipped_byte_in_any_members_compressed_data_names_that_member(runner, tmp_path, genuine):
    archive = zipfile.ZipFile(io.BytesIO(genuine))
    for info in archive.infolist():
        name_length, extra_length = struct.unpack_from("<HH", genuine, info.header_offset + 26)
        data_start = info.header_offset + 30 + name_length + extra_length
        for position in (data_start, data_start + info.compress_size // 2, data_start + info.compress_size - 1):
            forged = bytearray(genuine)
            forged[position] ^= 0x55
            _assert_bad(_verify(runner, tmp_path, bytes(forged)), info.filename)


def test_a_bundle_signed_by_another_key_never_gets_a_plain_ok(runner, tmp_path, app):
    other_seed = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    resigned = _bundle(FILES, seed=other_seed)
    other_key = signing.public_key_text(signing.private_key(other_seed))
    genuine_key = signing.public_key_text(signing.private_key(app.config["SIGNING_KEY"]))
    _assert_bad(_verify(runner, tmp_path, resigned), "manifest.sig")  # compared with the installation's key

    app.config["SIGNING_KEY"] = None  # a fresh clone: nothing to compare with unless the subject gives it
    result = _verify(runner, tmp_path, resigned)
    assert result.exit_code == 2 and "OK" not in result.stdout
    assert result.stdout.strip() == f"UNVERIFIED-SIGNER {signing.fingerprint(other_key)}"
    assert "not compared" in result.stderr and "--public-key" in result.stderr

    for given in (genuine_key, signing.fingerprint(genuine_key)):
        _assert_bad(_verify(runner, tmp_path, resigned, "--public-key", given), "manifest.sig")
    for given in (other_key, signing.fingerprint(other_key)):
        result = _verify(runner, tmp_path, resigned, "--public-key", given)
        assert (result.exit_code, result.stdout.strip()) == (0, "OK")
        assert "the key given with --public-key" in result.stderr


@pytest.mark.parametrize(("language", "words"), [("en", "fingerprint"), ("nb", "fingeravtrykk")])
def test_the_data_ready_letter_carries_the_controllers_key_fingerprint(app, language, words):
    context = {"reference": "DSR-TEST-0001", "right_title": "Access", "kind": "access", "partial": False,
               "expires_at": datetime(2026, 12, 8, 13, 3, tzinfo=UTC),
               "case_url": "https://portal.example/case/open/x", "code_minutes": 10, "systems": [],
               "controller": app.extensions["dsr.controller"]}
    fingerprint = signing.installation_fingerprint(app.config["SIGNING_KEY"])
    with app.test_request_context():
        _subject, text, html = render_letter("data_ready", language, context)
    assert fingerprint in text and fingerprint in html
    assert words in text.lower() and words in html.lower()


@pytest.mark.parametrize("language", ["en", "nb"])
def test_the_bundles_index_page_carries_the_controllers_key_fingerprint(app, language):
    fingerprint = signing.installation_fingerprint(app.config["SIGNING_KEY"])
    with app.test_request_context():
        path, content, _size = next(members(
            kind="access", language=language, reference="DSR-TEST-0001", controller=app.extensions["dsr.controller"],
            systems=[], history=[], rights={}, store=storage.get_store(app), master=[secrets.token_bytes(32)],
            partial=False))
    assert path == "index.html" and fingerprint.encode() in content
