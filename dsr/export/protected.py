"""A password-protected copy of a released bundle, the password sent by SMS to the phone on file
(DESIGN §6, SECURITY-PLAN S37): for a subject who wants the file safe on their own disk too.

The copy is a WinZip-AES-256 ZIP (pyzipper ≥ 0.4.0: AE-2, so no CRC of the content is stored in
clear) with one member under a generic name, `bundle.zip`: the signed bundle itself, so member
names (AES-ZIP does not hide them) say nothing about the subject, and `flask dsr bundle-verify`
still checks the inner file. It is written to a file created 0600 in the storage's `tmp/` and
unlinked at once, then streamed from the open descriptor: no copy is left on disk, whatever happens
(with an object store, a temporary object: `write_protected`).
"""
from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyzipper

from dsr.export import storage
from dsr.storage import Store
from dsr.storage.local import LocalStore

INNER_NAME = "bundle.zip"
#: no 0/O, 1/l/I: the password is typed from a phone's screen
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_GROUPS, _GROUP = 4, 5  # 20 characters of 32 symbols: 100 bits
_CHUNK = 256 * 1024


def new_password() -> str:
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP)) for _ in range(_GROUPS))


def write_protected(chunks: Iterator[bytes], password: str) -> tuple[Iterator[bytes], int]:
    """The AES-ZIP holding `chunks` as its one member, staged, and its size: the staged copy is streamed
    once and goes with the stream. In the local folder it is an unlinked temporary file; in an object
    store, a temporary object (tmp/) deleted when the stream ends, and swept a day later should the
    process die before (nothing of the bundle touches the local disk then)."""
    store = storage.get_store()
    if isinstance(store, LocalStore):
        handle = _unlinked_temp_file(store.root / "tmp")
        try:
            _write_zip(handle, chunks, password)
            size = handle.tell()
            handle.seek(0)
            return stream_and_close(handle), size
        except BaseException:
            handle.close()
            raise
    key = f"tmp/protected-{secrets.token_hex(16)}"
    with store.writer(key) as raw:
        counted = _Counting(raw)
        _write_zip(counted, chunks, password)
    return _stream_and_delete(store, key), counted.size


def _unlinked_temp_file(directory: Path) -> BinaryIO:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, path = tempfile.mkstemp(prefix="protected-", dir=directory)  # 0600, O_EXCL
    os.unlink(path)  # the name goes now; the data lives only as long as the descriptor
    return os.fdopen(fd, "w+b")


class _Counting:
    """A write-only stream that counts (pyzipper writes a stream it cannot seek with data descriptors)."""

    def __init__(self, raw):
        self.raw, self.size = raw, 0

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def _write_zip(target, chunks: Iterator[bytes], password: str) -> None:
    with pyzipper.AESZipFile(target, "w", compression=pyzipper.ZIP_STORED, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password.encode())
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        member = archive.zipinfo_cls(INNER_NAME, date_time=(1980, 1, 1, 0, 0, 0))
        member.compress_type = pyzipper.ZIP_STORED  # the bundle is deflated already
        with archive.open(member, "w") as target_member:
            for chunk in chunks:
                target_member.write(chunk)


def stream_and_close(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(_CHUNK):
            yield chunk
    finally:
        handle.close()


def _stream_and_delete(store: Store, key: str) -> Iterator[bytes]:
    try:
        with store.open(key) as raw:
            while chunk := raw.read(_CHUNK):
                yield chunk
    finally:
        store.delete(key)
