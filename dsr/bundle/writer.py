"""The streamed ZIP with its manifest and signature, and the offline check of a downloaded bundle.

Members get a fixed timestamp and are written in a fixed order, so two bundles of the same
data list the same paths and SHA-256 sums (and are byte-identical but for the manifest's
`generated_at`). The ZIP goes straight into a write-only stream (the sealed file), never
seeking: memory stays flat whatever the size (dsr.bundle.zipstream writes it; zipfile reads it).
"""
from __future__ import annotations

import hashlib
import json
import zipfile
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


def verify_bundle(path, expected_public_key: str | None = None) -> VerifyResult:
    """Check a downloaded bundle: every file against the manifest, the manifest against its signature.

    The signature proves the manifest was signed by the holder of the embedded public key; it
    proves it was *this installation* only when that key equals the installation's published
    key, which is checked when `expected_public_key` is given.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return VerifyResult(False, str(path))
    with archive:
        names = archive.namelist()
        for name in names:
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or "\\" in name or "\x00" in name:
                return VerifyResult(False, name)
        try:
            manifest_bytes = archive.read(MANIFEST)
            manifest = json.loads(manifest_bytes)
            files = manifest["files"]
            public_key = manifest["public_key"]
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile):
            return VerifyResult(False, MANIFEST)
        try:
            signature = archive.read(SIGNATURE)
        except KeyError:
            return VerifyResult(False, SIGNATURE)
        if not isinstance(public_key, str) or not signing.verify(public_key, manifest_bytes, signature):
            return VerifyResult(False, SIGNATURE, public_key if isinstance(public_key, str) else None)
        if expected_public_key is not None and public_key != expected_public_key:
            return VerifyResult(False, SIGNATURE, public_key, key_checked=True)
        listed: set[str] = set()
        for entry in files:
            member = entry.get("path") if isinstance(entry, dict) else None
            if not isinstance(member, str) or member in listed:
                return VerifyResult(False, MANIFEST, public_key)
            listed.add(member)
            if member not in names:
                return VerifyResult(False, member, public_key)
            digest, size = hashlib.sha256(), 0
            try:
                with archive.open(member) as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, OSError, EOFError):
                return VerifyResult(False, member, public_key)
            if size != entry.get("size") or digest.hexdigest() != entry.get("sha256"):
                return VerifyResult(False, member, public_key)
        for name in names:
            if name not in listed and name not in (MANIFEST, SIGNATURE):
                return VerifyResult(False, name, public_key)
        return VerifyResult(True, None, public_key, key_checked=expected_public_key is not None, files=len(listed))
