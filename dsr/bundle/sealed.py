"""Files sealed at rest with chunked AES-256-GCM (the STREAM construction), in constant memory.

Layout: MAGIC | salt (16) | nonce prefix (7) | chunk* ; every chunk is CHUNK plaintext bytes
(the last one 0..CHUNK) followed by its 16-byte tag. The per-file key is HKDF-SHA256 of
DSR_ENCRYPTION_KEY with the random salt and the file's purpose, so keys never repeat across
files. A chunk's nonce is prefix | counter (4 bytes) | last-flag (1 byte) and the header is
its associated data: reordering, truncating or extending a file fails authentication.
"""
from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dsr.config import ConfigError
from dsr.storage import Store

MAGIC = b"DSRSEAL1"
CHUNK = 256 * 1024
TAG = 16
_HEADER = len(MAGIC) + 16 + 7


class SealedFileError(ValueError):
    """The file is not a sealed file of this installation, or it was altered."""


def master_key(encryption_key: str | bytes | None) -> bytes:
    if not encryption_key:
        raise ConfigError("DSR_ENCRYPTION_KEY is not set (the run command writes one into instance/)")
    raw = base64.urlsafe_b64decode(encryption_key if isinstance(encryption_key, bytes) else encryption_key.encode())
    if len(raw) != 32:
        raise ConfigError("DSR_ENCRYPTION_KEY must be the urlsafe base64 of 32 bytes")
    return raw


def _file_key(master: bytes, salt: bytes, purpose: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=f"dsr.sealed.v1:{purpose}".encode()).derive(master)
    return AESGCM(key)


class SealedWriter:
    """A write-only binary file object; `close()` writes the final chunk. Counts and hashes the plaintext."""

    def __init__(self, raw: BinaryIO, master: bytes, purpose: str, *, digest: bool = True):
        salt, self._prefix = os.urandom(16), os.urandom(7)
        self._header = MAGIC + salt + self._prefix
        self._aead = _file_key(master, salt, purpose)
        self._raw = raw
        self._raw.write(self._header)
        self._buffer = bytearray()
        self._counter = 0
        self.size = 0
        self.sha256 = hashlib.sha256()  # of the plaintext (unused, and not computed, with digest=False)
        self._digest = digest
        self.closed = False

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed sealed file")
        self.size += len(data)
        if self._digest:
            self.sha256.update(data)
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            whole = len(self._buffer) - len(self._buffer) % CHUNK
            view = memoryview(self._buffer)
            for start in range(0, whole, CHUNK):
                self._seal(bytes(view[start:start + CHUNK]), last=False)
            view.release()
            del self._buffer[:whole]
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        nonce = self._prefix + self._counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        self._raw.write(self._aead.encrypt(nonce, chunk, self._header))
        self._counter += 1
        if self._counter >= 2 ** 32:
            raise OverflowError("sealed file too large")

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self.closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_sealed(raw: BinaryIO, master: bytes | Sequence[bytes], purpose: str) -> Iterator[bytes]:
    """Yield the plaintext chunk by chunk; raises SealedFileError on any alteration (before yielding it).

    `master` may be a list of keys (the current one first, then earlier ones after a rotation): the
    first chunk tells which one sealed the file."""
    header = raw.read(_HEADER)
    if len(header) != _HEADER or not header.startswith(MAGIC):
        raise SealedFileError("not a sealed file")
    salt, prefix = header[len(MAGIC):len(MAGIC) + 16], header[len(MAGIC) + 16:]
    candidates = [_file_key(key, salt, purpose) for key in ([master] if isinstance(master, bytes) else master)]
    counter = 0
    block = raw.read(CHUNK + TAG)
    while True:
        following = raw.read(CHUNK + TAG) if len(block) == CHUNK + TAG else b""
        last = not following
        nonce = prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        plain = None
        for aead in candidates:
            try:
                plain = aead.decrypt(nonce, block, header)
            except InvalidTag:
                continue
            candidates = [aead]  # this key sealed the file: the rest of it is checked against it alone
            break
        if plain is None:
            raise SealedFileError("sealed file was altered or truncated")
        if plain:
            yield plain
        if last:
            return
        counter += 1
        block = following


def iter_sealed_file(store: Store, key: str, master: bytes | Sequence[bytes], purpose: str) -> Iterator[bytes]:
    with store.open(key) as raw:
        yield from read_sealed(raw, master, purpose)


class SealedLines:
    """Iterate the lines (bytes, newline stripped) of a sealed file in a store without loading it."""

    def __init__(self, store: Store, key: str, master: bytes | Sequence[bytes], purpose: str):
        self.store, self.key, self.master, self.purpose = store, key, master, purpose

    def __iter__(self) -> Iterator[bytes]:
        rest = b""
        for chunk in iter_sealed_file(self.store, self.key, self.master, self.purpose):
            data = rest + chunk
            lines = data.split(b"\n")
            rest = lines.pop()
            yield from lines
        if rest:
            yield rest
