"""A streaming ZIP writer: deflated members with data descriptors, zip64 where sizes need it.

What zipfile writes to a stream it cannot seek, with two differences that matter for an export:
the deflate is ISA-L's (the `isal` package: about five times zlib's speed at level 1, with a
ratio as good), and nothing is buffered but the chunk at hand. Every member gets the same fixed
timestamp, so the same data gives the same bytes. zipfile (and `flask dsr bundle-verify`) reads
the result; tests/test_bundle_zip.py checks it, zip64 included.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

try:
    from isal import isal_zlib as deflate
except ImportError:  # a platform without the isal wheel: the standard library's zlib, slower, same format
    import zlib as deflate

_DOS_DATE, _DOS_TIME = (0 << 9) | (1 << 5) | 1, 0  # 1980-01-01 00:00:00, the earliest a ZIP can say
_METHOD_DEFLATED = 8
_FLAG_DESCRIPTOR, _FLAG_UTF8 = 0x08, 0x800
_VERSION, _VERSION_ZIP64 = 20, 45
_MADE_BY = (3 << 8) | _VERSION  # Unix
_MARK = 0xFFFFFFFF  # a 4-byte field saying: see the zip64 extra
_LIMIT = _MARK  # sizes and offsets from here on need zip64 (a test lowers it)
_MAX_LEVEL = 3 if deflate.__name__.startswith("isal") else 9


@dataclass
class _Entry:
    name: bytes
    flags: int
    crc: int
    compressed: int
    size: int
    offset: int
    zip64: bool


class ZipStream:
    """`member(name)` gives a writable member; `close()` writes the central directory. The stream only
    needs `write`."""

    def __init__(self, stream: BinaryIO, compresslevel: int = 1):
        self.stream = stream
        self.level = max(0, min(int(compresslevel), _MAX_LEVEL))
        self.offset = 0
        self.entries: list[_Entry] = []
        self._open: _Member | None = None

    def _write(self, data: bytes) -> None:
        self.stream.write(data)
        self.offset += len(data)

    def member(self, name: str, *, zip64: bool = False) -> _Member:
        """zip64: the member may pass 4 GiB (its sizes are then written in 8 bytes)."""
        if self._open is not None:
            raise ValueError("close the previous member first")
        encoded, flags = name.encode("ascii", "ignore"), _FLAG_DESCRIPTOR
        if encoded.decode() != name:
            encoded, flags = name.encode("utf-8"), flags | _FLAG_UTF8
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b""
        offset = self.offset
        self._write(struct.pack("<IHHHHHIIIHH", 0x04034B50, _VERSION_ZIP64 if zip64 else _VERSION, flags,
                                _METHOD_DEFLATED, _DOS_TIME, _DOS_DATE, 0, 0, 0, len(encoded), len(extra))
                    + encoded + extra)
        self._open = _Member(self, _Entry(encoded, flags, 0, 0, 0, offset, zip64))
        return self._open

    def _finish(self, entry: _Entry) -> None:
        if not entry.zip64 and max(entry.size, entry.compressed) > _LIMIT:
            raise OverflowError(f"member {entry.name!r} passed 4 GiB without zip64")
        sizes = "QQ" if entry.zip64 else "II"
        self._write(struct.pack(f"<II{sizes}", 0x08074B50, entry.crc, entry.compressed, entry.size))
        self.entries.append(entry)
        self._open = None

    def close(self) -> None:
        if self._open is not None:
            raise ValueError("a member is still open")
        start = self.offset
        for entry in self.entries:
            # The zip64 extra holds, in this order, the sizes and the offset whose header field says 0xFFFFFFFF.
            wide_sizes = entry.zip64 or max(entry.size, entry.compressed) >= _LIMIT
            wide_offset = entry.offset >= _LIMIT
            fields = ([entry.size, entry.compressed] if wide_sizes else []) + ([entry.offset] if wide_offset else [])
            extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
            self._write(struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, _MADE_BY, _VERSION_ZIP64 if fields else _VERSION, entry.flags,
                _METHOD_DEFLATED, _DOS_TIME, _DOS_DATE, entry.crc, _MARK if wide_sizes else entry.compressed,
                _MARK if wide_sizes else entry.size, len(entry.name), len(extra), 0, 0, 0, 0o644 << 16,
                _MARK if wide_offset else entry.offset) + entry.name + extra)
        size, count = self.offset - start, len(self.entries)
        if count >= 0xFFFF or size >= _LIMIT or start >= _LIMIT:
            zip64_end = self.offset
            self._write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, _MADE_BY, _VERSION_ZIP64, 0, 0, count, count,
                                    size, start))
            self._write(struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1))
        self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                                _MARK if size >= _LIMIT else size, _MARK if start >= _LIMIT else start, 0))


class _Member:
    def __init__(self, archive: ZipStream, entry: _Entry):
        self.archive, self.entry = archive, entry
        self._deflate = deflate.compressobj(archive.level, deflate.DEFLATED, -15)

    def write(self, data: bytes) -> None:
        entry = self.entry
        entry.crc = deflate.crc32(data, entry.crc)
        entry.size += len(data)
        out = self._deflate.compress(data)
        if out:
            entry.compressed += len(out)
            self.archive._write(out)

    def close(self) -> None:
        out = self._deflate.flush()
        self.entry.compressed += len(out)
        self.archive._write(out)
        self.archive._finish(self.entry)

    def __enter__(self) -> _Member:
        return self

    def __exit__(self, kind, *_exc) -> None:
        if kind is None:
            self.close()
