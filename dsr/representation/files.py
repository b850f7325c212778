"""The representative's authorisation file: a PDF, JPEG or PNG (told by its first bytes, never by the
name or the browser's claim), at most AUTHORISATION_MAX_BYTES, sealed at rest in the store like a manual
system's upload, read back only for staff (audited by the caller) and deleted with the case's details."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _

from dsr.bundle.sealed import SealedWriter
from dsr.export import storage
from dsr.export.manual import safe_filename

PURPOSE = "authorisation"
#: first bytes -> (content type, file name extension)
SIGNATURES = {
    b"%PDF-": ("application/pdf", "pdf"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
}
_HEAD = max(len(signature) for signature in SIGNATURES)


class AuthorisationFileError(ValueError):
    """The file cannot be taken (the message, in the page's language, says why)."""


@dataclass(frozen=True)
class StoredFile:
    key: str
    filename: str
    content_type: str
    size: int
    sha256: str


def max_bytes() -> int:
    return int(current_app.config["AUTHORISATION_MAX_BYTES"])


def size_text(size: int) -> str:
    return f"{size / 1_000_000:.0f} MB" if size >= 1_000_000 else f"{size:,} bytes"


def sniffed_type(head: bytes) -> tuple[str, str] | None:
    for signature, kind in SIGNATURES.items():
        if head.startswith(signature):
            return kind
    return None


def store_authorisation(request_id: int, upload: BinaryIO) -> StoredFile:
    """Check and seal the upload (a file object; its `.filename` is kept, made safe). Whole or not at all:
    a file of another type, empty or too large leaves nothing in the store."""
    stream = getattr(upload, "stream", upload)
    head = stream.read(_HEAD)
    if not head:
        raise AuthorisationFileError(_("The file is empty. Choose the file with the authorisation."))
    kind = sniffed_type(head)
    if kind is None:
        raise AuthorisationFileError(_("The authorisation must be a PDF, JPEG or PNG file."))
    content_type, extension = kind
    limit = max_bytes()
    key = f"authorisations/r{int(request_id)}/{secrets.token_hex(8)}.sealed"
    with storage.get_store().writer(key) as raw, SealedWriter(raw, storage.sealing_key(), PURPOSE) as sealed:
        chunk = head
        while chunk:
            if sealed.size + len(chunk) > limit:
                raise AuthorisationFileError(
                    _("The file is larger than %(size)s, the most we can take.", size=size_text(limit)))
            sealed.write(chunk)
            chunk = stream.read(1 << 20)
    name = safe_filename(getattr(upload, "filename", None)).removeprefix("upload-")
    if not name.lower().endswith(f".{extension}"):
        name = f"{name}.{extension}"
    return StoredFile(key=key, filename=f"authorisation-{name}"[:120], content_type=content_type,
                      size=sealed.size, sha256=sealed.sha256.hexdigest())


def read_authorisation(key: str) -> Iterator[bytes]:
    return storage.open_sealed(key, PURPOSE)


def delete_authorisation(key: str) -> None:
    storage.get_store().delete(key)
