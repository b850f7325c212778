"""The streaming ZIP writer: what zipfile (and so bundle-verify) reads back, byte for byte, zip64 included;
the same members give the same bytes."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile

import pytest

from dsr.bundle import zipstream
from dsr.bundle.zipstream import ZipStream
from tests.helpers.skips import skip_reason


class _WriteOnly:
    """Like the sealed file: write and nothing else (no seek, no tell)."""

    def __init__(self):
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)


def _archive(members: list[tuple[str, list[bytes]]], *, zip64: bool = False, level: int = 1) -> bytes:
    out = _WriteOnly()
    archive = ZipStream(out, compresslevel=level)
    for name, chunks in members:
        with archive.member(name, zip64=zip64) as member:
            for chunk in chunks:
                member.write(chunk)
    archive.close()
    return out.buffer.getvalue()


MEMBERS = [("index.html", [b"<!doctype html>\n<p>Hei</p>\n"]), ("empty.txt", []),
           ("data/crm/contacts.json", [b'[\n{"id":1}\n', os.urandom(300_000), b"]\n"]),
           ("data/crm/kontakter-æøå.csv", [b"\xef\xbb\xbfid\r\n1\r\n" * 1000])]


@pytest.mark.parametrize("zip64", [False, True])
@pytest.mark.parametrize("level", [0, 1, 3])
def test_zipfile_reads_back_every_member_byte_for_byte(zip64, level):
    data = _archive(MEMBERS, zip64=zip64, level=level)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every CRC checks
        assert archive.namelist() == [name for name, _ in MEMBERS]
        for name, chunks in MEMBERS:
            assert archive.read(name) == b"".join(chunks)
            info = archive.getinfo(name)
            assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.compress_type == zipfile.ZIP_DEFLATED
            assert info.external_attr >> 16 == 0o644


@pytest.mark.skipif(not shutil.which("unzip"), reason=skip_reason("tool", "Info-ZIP's unzip is not installed"))
@pytest.mark.parametrize("zip64", [False, True])
def test_info_zip_reads_it_too(tmp_path, zip64):
    path = tmp_path / "bundle.zip"
    path.write_bytes(_archive(MEMBERS, zip64=zip64))
    checked = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_same_members_give_the_same_bytes():
    assert _archive(MEMBERS) == _archive(MEMBERS)


def test_offsets_past_4_gib_are_written_as_zip64(monkeypatch):
    monkeypatch.setattr(zipstream, "_LIMIT", 1000)  # as if every offset and size past 1000 bytes were past 4 GiB
    data = _archive(MEMBERS, zip64=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.read("data/crm/kontakter-æøå.csv") == MEMBERS[3][1][0]


def test_a_member_past_4_gib_without_zip64_is_refused(monkeypatch):
    monkeypatch.setattr(zipstream, "_LIMIT", 1000)
    with pytest.raises(OverflowError, match="zip64"):
        _archive([("big.bin", [os.urandom(5000)])])


def test_the_deflate_is_isa_l_when_the_wheel_is_installed():
    assert zipstream.deflate.__name__ == "isal.isal_zlib"
