"""The streamed ZIP with its manifest and signature, and the offline check of a downloaded bundle.

Members get a fixed timestamp and are written in a fixed order, so two bundles of the same
data list the same paths and SHA-256 sums (and are byte-identical but for the manifest's
`generated_at`). The ZIP goes straight into a write-only stream (the sealed file), never
seeking: memory stays flat whatever the size (dsr.bundle.zipstream writes it; zipfile reads it).
"""
from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from dsr.bundle import signing
from dsr.bundle.zipstream import ZipStream

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = "dsr-bundle/1"
_LARGE = 1 << 30  # members that may pass 2 GiB need zip64 headers


@dataclass(frozen=True)
class Member:
    path: str
    size: int
    sha256: str


class BundleWriter:
    def __init__(self, stream: BinaryIO, compresslevel: int = 1):
        self.zip = ZipStream(stream, compresslevel=compresslevel)
        self.members: list[Member] = []
        self._paths: set[str] = set()

    def add(self, path: str, chunks: Iterable[bytes] | bytes, *, expected_size: int = 0) -> Member:
        if path in (MANIFEST, SIGNATURE) or path in self._paths:
            raise ValueError(f"bundle member {path} written twice")
        digest, size = hashlib.sha256(), 0
        with self.zip.member(path, zip64=expected_size > _LARGE) as out:
            for chunk in ([chunks] if isinstance(chunks, bytes) else chunks):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        member = Member(path, size, digest.hexdigest())
        self.members.append(member)
        self._paths.add(path)
        return member

    def finish(self, key, header: dict) -> bytes:
        """Write manifest.json and manifest.sig; returns the manifest's bytes."""
        manifest = {
            "format": FORMAT, **header, "algorithm": "Ed25519", "public_key": signing.public_key_text(key),
            "files": [{"path": m.path, "size": m.size, "sha256": m.sha256}
                      for m in sorted(self.members, key=lambda m: m.path)],
        }
        data = (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()
        for name, content in ((MANIFEST, data), (SIGNATURE, signing.sign(key, data))):
            with self.zip.member(name) as out:
                out.write(content)
        self.zip.close()
        return data


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    bad_path: str | None = None
    public_key: str | None = None
    key_checked: bool = False  # the embedded key was compared with the installation's (or a given) key
    files: int = 0


# What opening a damaged archive raises (zipfile's own parsing of the central directory).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError,
                RuntimeError)
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_SIGNATURE, _DESCRIPTOR_SIGNATURE = 0x04034B50, 0x08074B50
_FLAG_ENCRYPTED, _FLAG_DESCRIPTOR, _FLAG_UTF8, _ZIP64_EXTRA, _MARK = 0x01, 0x08, 0x800, 0x0001, 0xFFFFFFFF
_CHUNK = 1 << 20


class _Misfit(Exception):
    """A member that is damaged, or that tools could read differently; the message is its name."""


def verify_bundle(path, expected_public_key: str | None = None) -> VerifyResult:
    """Check a downloaded bundle: its layout, every file against the manifest, the manifest against its
    signature.

    The signature proves the manifest was signed by the holder of the embedded public key; it
    proves it was *this installation* only when that key is the installation's published key
    (`expected_public_key`: the key, or its fingerprint), which is checked when it is given.
    """
    try:
        archive = zipfile.ZipFile(path)
    except _READ_ERRORS:
        return VerifyResult(False, str(path))
    with archive, open(path, "rb") as handle:
        try:
            return _verify(archive, handle, expected_public_key)
        except _Misfit as misfit:
            return VerifyResult(False, str(misfit))


def _verify(archive: zipfile.ZipFile, handle, expected_public_key: str | None) -> VerifyResult:
    for name in archive.namelist():
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or "\\" in name or "\x00" in name:
            raise _Misfit(name)
    starts = _data_starts(archive, handle)
    infos = {info.filename: info for info in archive.infolist()}
    try:
        manifest_bytes = _content(handle, infos[MANIFEST], starts[MANIFEST])
        manifest = json.loads(manifest_bytes)
        files = manifest["files"]
        public_key = manifest["public_key"]
    except (KeyError, TypeError, ValueError, _Misfit):
        return VerifyResult(False, MANIFEST)
    try:
        signature = _content(handle, infos[SIGNATURE], starts[SIGNATURE])
    except (KeyError, _Misfit):
        return VerifyResult(False, SIGNATURE)
    if not isinstance(public_key, str) or not signing.verify(public_key, manifest_bytes, signature):
        return VerifyResult(False, SIGNATURE, public_key if isinstance(public_key, str) else None)
    if expected_public_key is not None and not signing.names_key(expected_public_key, public_key):
        return VerifyResult(False, SIGNATURE, public_key, key_checked=True)
    listed: set[str] = set()
    for entry in files:
        member = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(member, str) or member in listed:
            return VerifyResult(False, MANIFEST, public_key)
        listed.add(member)
        if member not in infos:
            return VerifyResult(False, member, public_key)
        digest = hashlib.sha256()
        size = _decode(handle, infos[member], starts[member], digest.update)
        if size != entry.get("size") or digest.hexdigest() != entry.get("sha256"):
            return VerifyResult(False, member, public_key)
    for name in infos:
        if name not in listed and name not in (MANIFEST, SIGNATURE):
            return VerifyResult(False, name, public_key)
    return VerifyResult(True, None, public_key, key_checked=expected_public_key is not None,
                        files=len(listed))


def _data_starts(archive: zipfile.ZipFile, handle) -> dict[str, int]:
    """Where each member's data starts, after checking the layout (raises _Misfit).

    zipfile reads members through the central directory, but other tools (and streaming readers)
    follow the local headers from the start of the file. So every name must be listed once, and the
    local headers must follow one another from byte 0 up to the central directory, each saying what
    its directory entry says: nothing may hide in front of, between or after the members.
    """
    starts: dict[str, int] = {}
    for info in archive.infolist():
        if info.filename in starts:
            raise _Misfit(info.filename)
        starts[info.filename] = -1
    position = 0
    for info in sorted(archive.infolist(), key=lambda i: i.header_offset):
        handle.seek(position)
        header = handle.read(_LOCAL_HEADER.size)
        if info.header_offset != position or len(header) < _LOCAL_HEADER.size:
            raise _Misfit(_local_name(handle, header) or info.filename)
        signature, version, flags, method, time, date, crc, compressed, size, name_length, extra_length = (
            _LOCAL_HEADER.unpack(header))
        name, extra = handle.read(name_length), handle.read(extra_length)
        expected_name = info.orig_filename.encode("utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437")
        if ((signature, version, flags, method, name, (date, time)) !=
                (_LOCAL_SIGNATURE, info.extract_version, info.flag_bits, info.compress_type, expected_name,
                 _dos_stamp(info))
                or flags & _FLAG_ENCRYPTED or not _local_sizes_agree(info, crc, compressed, size, extra)):
            raise _Misfit(info.filename)
        position = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        starts[info.filename] = position
        position += info.compress_size
        if flags & _FLAG_DESCRIPTOR:
            handle.seek(position)
            position = _after_descriptor(handle, position, info, _has_zip64(extra))
    if position != archive.start_dir:
        handle.seek(position)
        raise _Misfit(_local_name(handle, handle.read(_LOCAL_HEADER.size)) or MANIFEST)
    return starts


def _dos_stamp(info: zipfile.ZipInfo) -> tuple[int, int]:
    year, month, day, hour, minute, second = info.date_time
    return (year - 1980) << 9 | month << 5 | day, hour << 11 | minute << 5 | second // 2


def _local_sizes_agree(info: zipfile.ZipInfo, crc: int, compressed: int, size: int, extra: bytes) -> bool:
    if info.flag_bits & _FLAG_DESCRIPTOR:
        return (crc, compressed, size) == (0, 0, 0)  # the descriptor after the data has them
    if _has_zip64(extra) and (compressed, size) == (_MARK, _MARK):
        return crc == info.CRC
    return (crc, compressed, size) == (info.CRC, info.compress_size, info.file_size)


def _after_descriptor(handle, position: int, info: zipfile.ZipInfo, zip64: bool) -> int:
    """Where the member's data descriptor ends (raises _Misfit when it contradicts the directory)."""
    wide = zip64 or max(info.compress_size, info.file_size) >= _MARK
    sizes = struct.Struct("<IQQ" if wide else "<III")
    head = handle.read(4)
    if len(head) == 4 and struct.unpack("<I", head)[0] == _DESCRIPTOR_SIGNATURE:
        position += 4
    else:
        handle.seek(position)
    fields = handle.read(sizes.size)
    if len(fields) < sizes.size or sizes.unpack(fields) != (info.CRC, info.compress_size, info.file_size):
        raise _Misfit(info.filename)
    return position + sizes.size


def _has_zip64(extra: bytes) -> bool:
    while len(extra) >= 4:
        kind, length = struct.unpack_from("<HH", extra)
        if kind == _ZIP64_EXTRA:
            return True
        extra = extra[4 + length:]
    return False


def _local_name(handle, header: bytes) -> str | None:
    """The name in a local header nobody listed (a hidden member), when there is one."""
    if len(header) < _LOCAL_HEADER.size or _LOCAL_HEADER.unpack(header)[0] != _LOCAL_SIGNATURE:
        return None
    fields = _LOCAL_HEADER.unpack(header)
    raw = handle.read(fields[9])
    return raw.decode("utf-8" if fields[2] & _FLAG_UTF8 else "cp437", "replace") or None


def _content(handle, info: zipfile.ZipInfo, start: int) -> bytes:
    parts: list[bytes] = []
    _decode(handle, info, start, parts.append)
    return b"".join(parts)


def _decode(handle, info: zipfile.ZipInfo, start: int, sink) -> int:
    """Feed a member's content to `sink` from its raw bytes; returns its size (raises _Misfit).

    zipfile stops inflating once it has the declared size, so a damaged end of a deflate stream
    passes it by. Here the stream must end exactly at the end of the member's data, with the unused
    bits of its last byte zero (as zlib and ISA-L write them), and the CRC must match: a flipped
    bit anywhere in the compressed data is found.
    """
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _Misfit(info.filename)
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    handle.seek(start)
    remaining, size, crc = info.compress_size, 0, 0
    try:
        while remaining > (1 if inflate else 0):
            chunk = handle.read(min(_CHUNK, remaining - (1 if inflate else 0)))
            if not chunk or (inflate is not None and inflate.eof):
                raise _Misfit(info.filename)
            remaining -= len(chunk)
            out = inflate.decompress(chunk) if inflate is not None else chunk
            size, crc = size + len(out), zlib.crc32(out, crc)
            sink(out)
        if inflate is not None:
            last, before = handle.read(1), inflate.copy()
            out = inflate.decompress(last)
            if len(last) != 1 or not inflate.eof or inflate.unused_data or _loose_bits(before, last[0], out):
                raise _Misfit(info.filename)
            size, crc = size + len(out), zlib.crc32(out, crc)
            sink(out)
    except zlib.error:
        raise _Misfit(info.filename) from None
    if (size, crc) != (info.file_size, info.CRC):
        raise _Misfit(info.filename)
    return size


def _loose_bits(before, last: int, out: bytes) -> bool:
    """Whether a set bit of the stream's last byte could be cleared without changing anything: padding
    that zlib would have written as zero, i.e. a changed byte."""
    for bit in range(8):
        if last & (1 << bit):
            trial = before.copy()
            try:
                same = trial.decompress(bytes([last & ~(1 << bit)])) == out
            except zlib.error:
                continue
            if same and trial.eof and not trial.unused_data:
                return True
    return False
