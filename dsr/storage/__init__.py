"""Where export files live: a local folder (DSR_STORAGE_DIR, the default) or an S3-compatible object
store (DSR_STORAGE_URL=s3://bucket/prefix). Writers and readers see one small interface, `Store`:

- keys are relative, `/`-separated names ("bundles/bundle-7-….zip.sealed", "spool/r12/t3-a1/…");
- `writer(key)` gives a write-only stream that becomes visible under `key` only when it is whole:
  `commit()` (or leaving its `with` block) publishes it durably, `abort()` (or an exception) leaves
  nothing. Locally that is a temporary file, fsynced and renamed; on S3 a multipart upload, completed
  at the end, aborted on failure. Memory holds one part at most, never the file;
- `open(key)` gives a readable stream (FileNotFoundError when missing), read in ranges on S3;
- `delete`, `delete_prefix`, `children` (the names one level below a prefix), `size`, and
  `sweep_incomplete` (what a killed process left half-written, older than a given age).

A library: no Flask, no database. dsr.export.storage picks the store from the configuration.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import BinaryIO, Protocol, Self
from urllib.parse import urlsplit

from dsr.config import ConfigError


class ObjectWriter(Protocol):
    def write(self, data: bytes) -> int: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, kind, *_exc) -> None: ...


class Store(Protocol):
    description: str

    def writer(self, key: str) -> ObjectWriter: ...
    def open(self, key: str) -> BinaryIO: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def children(self, prefix: str) -> list[str]: ...
    def sweep_incomplete(self, older_than_seconds: float) -> int: ...


class WriterBase(ABC):
    """commit on a clean exit of the `with` block, abort on an exception."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, *_exc) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


def check_key(key: str) -> str:
    """Keys are built by the portal, never from input; this only guards against a programming slip."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a storage key: {key!r}")
    return key


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix (the prefix may be empty)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"DSR_STORAGE_URL={url!r} is not s3://bucket/prefix")
    return parts.netloc, parts.path.strip("/")
