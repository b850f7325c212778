"""A password-protected copy of a released bundle, the password sent by SMS to the phone on file
(DESIGN §6, SECURITY-PLAN S37): for a subject who wants the file safe on their own disk too.

The copy is a WinZip-AES-256 ZIP (pyzipper ≥ 0.4.0: AE-2, so no CRC of the content is stored in
clear) with one member under a generic name, `bundle.zip`: the signed bundle itself, so member
names (AES-ZIP does not hide them) say nothing about the subject, and `flask dsr bundle-verify`
still checks the inner file. It is written to a file created 0600 in the storage's `tmp/` and
unlinked at once, then streamed from the open descriptor: no copy is left on disk, whatever happens.
"""
from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import pyzipper

from dsr.export import storage

INNER_NAME = "bundle.zip"
#: no 0/O, 1/l/I: the password is typed from a phone's screen
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_GROUPS, _GROUP = 4, 5  # 20 characters of 32 symbols: 100 bits
_CHUNK = 256 * 1024


def new_password() -> str:
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP)) for _ in range(_GROUPS))


def _unlinked_temp_file() -> BinaryIO:
    directory = storage.storage_root() / "tmp"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, path = tempfile.mkstemp(prefix="protected-", dir=directory)  # 0600, O_EXCL
    os.unlink(path)  # the name goes now; the data lives only as long as the descriptor
    return os.fdopen(fd, "w+b")


def write_protected(chunks: Iterator[bytes], password: str) -> tuple[BinaryIO, int]:
    """The AES-ZIP holding `chunks` as its one member, in an unlinked temp file (rewound), and its size."""
    handle = _unlinked_temp_file()
    try:
        with pyzipper.AESZipFile(handle, "w", compression=pyzipper.ZIP_STORED,
                                 encryption=pyzipper.WZ_AES) as archive:
            archive.setpassword(password.encode())
            archive.setencryption(pyzipper.WZ_AES, nbits=256)
            member = archive.zipinfo_cls(INNER_NAME, date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = pyzipper.ZIP_STORED  # the bundle is deflated already
            with archive.open(member, "w") as target:
                for chunk in chunks:
                    target.write(chunk)
        size = handle.tell()
        handle.seek(0)
        return handle, size
    except BaseException:
        handle.close()
        raise


def stream_and_close(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(_CHUNK):
            yield chunk
    finally:
        handle.close()
