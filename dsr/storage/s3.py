"""The S3 store (DSR_STORAGE_URL=s3://bucket/prefix): AWS, MinIO, Ceph or any S3-compatible service.

Writes are multipart uploads made while the file is written (one part of PART_SIZE in memory at a
time; a file smaller than one part goes up in a single PUT when it is whole). Nothing is visible
under the key until the upload is completed, and a failed write aborts it, so a reader sees a whole
object or none, as with the local folder's rename. A process killed mid-upload leaves only an
invisible incomplete upload: `sweep_incomplete` aborts those (a bucket lifecycle rule
"AbortIncompleteMultipartUpload" does the same on the store's side). Reads fetch the object in
ranges of RANGE_SIZE, one after the other, so no request holds more than that.

Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an
instance role); DSR_S3_ENDPOINT_URL names another service than AWS, DSR_S3_REGION the region.
"""
from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from dsr.storage import WriterBase, check_key

PART_SIZE = 8 * 1024 * 1024  # S3 wants at least 5 MiB for every part but the last
RANGE_SIZE = 8 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def s3_client(endpoint_url: str | None, region: str | None):
    """One client per process and endpoint: clients are thread-safe, but not to be shared across a fork."""
    cache_key = (os.getpid(), endpoint_url, region)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            config = Config(retries={"max_attempts": 5, "mode": "standard"},
                            s3={"addressing_style": "path"} if endpoint_url else {})
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region,
                                                    config=config)
            _clients[cache_key] = client
        return client


class S3Writer(WriterBase):
    def __init__(self, client, bucket: str, key: str):
        self.client, self.bucket, self.key = client, bucket, key
        self.buffer = bytearray()
        self.parts: list[dict] = []
        self.upload_id: str | None = None
        self.done = False

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= PART_SIZE:
            self._upload_part(PART_SIZE)
        return len(data)

    def _upload_part(self, size: int) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        body = bytes(self.buffer[:size])
        del self.buffer[:size]
        number = len(self.parts) + 1
        answer = self.client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                         PartNumber=number, Body=body)
        self.parts.append({"ETag": answer["ETag"], "PartNumber": number})

    def commit(self) -> None:
        if self.done:
            return
        try:
            if self.upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            else:
                if self.buffer:
                    self._upload_part(len(self.buffer))
                self.client.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                                      MultipartUpload={"Parts": self.parts})
        except BaseException:
            self.abort()
            raise
        self.buffer.clear()
        self.done = True

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.buffer.clear()
        if self.upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class RangedReader:
    """A read-only stream over an object, fetched RANGE_SIZE bytes per request. `read(n)` returns n
    bytes unless the object ends first (as a file does)."""

    def __init__(self, client, bucket: str, key: str, size: int):
        self.client, self.bucket, self.key, self.size = client, bucket, key, size
        self.offset = 0
        self._body = None
        self._window_end = 0

    def read(self, n: int = -1) -> bytes:
        wanted = self.size - self.offset if n is None or n < 0 else min(n, self.size - self.offset)
        pieces, got = [], 0
        while got < wanted:
            if self._body is None or self.offset >= self._window_end:
                self._next_window()
            piece = self._body.read(min(wanted - got, self._window_end - self.offset))
            if not piece:
                raise OSError(f"s3://{self.bucket}/{self.key} ended early at byte {self.offset}")
            pieces.append(piece)
            got += len(piece)
            self.offset += len(piece)
        return b"".join(pieces)

    def _next_window(self) -> None:
        self._close_body()
        end = min(self.offset + RANGE_SIZE, self.size) - 1
        answer = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={self.offset}-{end}")
        self._body, self._window_end = answer["Body"], end + 1

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._close_body()

    def __enter__(self) -> RangedReader:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None):
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url, self.region = endpoint_url, region
        self.description = f"s3://{bucket}/{self.prefix}"

    @property
    def client(self):
        return s3_client(self.endpoint_url, self.region)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def writer(self, key: str) -> S3Writer:
        return S3Writer(self.client, self.bucket, self._key(key))

    def open(self, key: str) -> RangedReader:
        return RangedReader(self.client, self.bucket, self._key(key), self.size(key))

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise FileNotFoundError(f"{self.description}/{key}") from None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))  # S3 answers 204 when missing too

    def delete_prefix(self, prefix: str) -> None:
        keys = [item["Key"] for item in self._listing(self._key(prefix) + "/")]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": key} for key in keys[start:start + 1000]], "Quiet": True})

    def _listing(self, prefix: str):
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def children(self, prefix: str) -> list[str]:
        full = self._key(prefix) + "/"
        names: set[str] = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full,
                                                                           Delimiter="/"):
            names.update(item["Prefix"][len(full):].rstrip("/") for item in page.get("CommonPrefixes", []))
            names.update(item["Key"][len(full):] for item in page.get("Contents", []))
        return sorted(names)

    def sweep_incomplete(self, older_than_seconds: float) -> int:
        """Abort uploads a killed process never completed, and delete staged copies (tmp/) it left."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        removed = 0
        scope = f"{self.prefix}/" if self.prefix else ""
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                 Prefix=scope):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                    removed += 1
        for item in self._listing(self._key("tmp") + "/"):
            if item["LastModified"] < cutoff:
                self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                removed += 1
        return removed

