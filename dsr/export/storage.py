"""Where export files live — the store (dsr.storage: DSR_STORAGE_DIR, or DSR_STORAGE_URL's S3 bucket),
the keys of bundles, spools and uploads in it — and the keys that seal them at rest."""
from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, current_app

from dsr.bundle.sealed import iter_sealed_file, master_key
from dsr.storage import Store, parse_s3_url
from dsr.storage.local import LocalStore
from dsr.storage.s3 import S3Store

#: what a killed process left half-written is swept after this (far longer than any write takes)
INCOMPLETE_AFTER_SECONDS = 86400


def get_store(app: Flask | None = None) -> Store:
    """The app's store, built once per app (the S3 client itself is per process: dsr.storage.s3)."""
    app = app or current_app
    store = app.extensions.get("dsr.store")
    if store is None:
        config = app.config
        if config.get("STORAGE_URL"):
            bucket, prefix = parse_s3_url(config["STORAGE_URL"])
            store = S3Store(bucket, prefix, endpoint_url=config.get("S3_ENDPOINT_URL") or None,
                            region=config.get("S3_REGION") or None)
        else:
            store = LocalStore(config["STORAGE_DIR"])
        app.extensions["dsr.store"] = store
    return store


def sealing_key(app: Flask | None = None) -> bytes:
    """The key new files are sealed with (DSR_ENCRYPTION_KEY)."""
    return master_key((app or current_app).config["ENCRYPTION_KEY"])


def opening_keys(app: Flask | None = None) -> list[bytes]:
    """The keys stored files may be sealed with: DSR_ENCRYPTION_KEY, then DSR_ENCRYPTION_KEY_FALLBACKS
    (files sealed before a rotation stay readable while their key is listed)."""
    config = (app or current_app).config
    return [master_key(config["ENCRYPTION_KEY"])] + [master_key(k) for k in config.get("ENCRYPTION_KEY_FALLBACKS") or []]


def request_spool(request_id: int) -> str:
    return f"spool/r{int(request_id)}"


def task_spool(request_id: int, task_id: int, attempt: int) -> str:
    return f"{request_spool(request_id)}/t{int(task_id)}-a{int(attempt)}"


def upload_key(request_id: int, task_id: int) -> str:
    return f"{request_spool(request_id)}/t{int(task_id)}-upload.sealed"


def bundle_key(name: str) -> str:
    return f"bundles/{name}"


def open_sealed(key: str, purpose: str, app: Flask | None = None) -> Iterator[bytes]:
    """The plaintext of a sealed file in the store, chunk by chunk (constant memory)."""
    return iter_sealed_file(get_store(app), key, opening_keys(app), purpose)


def delete_bundle(name: str, app: Flask | None = None) -> None:
    get_store(app).delete(bundle_key(name))


def remove_request_spool(request_id: int, app: Flask | None = None) -> None:
    get_store(app).delete_prefix(request_spool(request_id))


def shaped_spool(request_id: int, bundle_id: int) -> str:
    """Where a bundle's redacted or delta collections are rewritten (dsr.export.shaping)."""
    return f"{request_spool(request_id)}/shaped-b{int(bundle_id)}"


def remove_spools_of(request_id: int, tasks, bundle_id: int, app: Flask | None = None) -> None:
    """A released part's spools: its tasks' records and uploads and its rewritten collections. Those of the
    systems still owed (a partial answer's rest) stay."""
    store = get_store(app)
    for task in tasks:
        name = (task.result or {}).get("spool")
        if name:
            store.delete_prefix(f"{request_spool(request_id)}/{name}")
        if (task.result or {}).get("upload"):
            store.delete(upload_key(request_id, task.id))
    store.delete_prefix(shaped_spool(request_id, bundle_id))


def spooled_request_ids(app: Flask | None = None) -> list[int]:
    """Cases with spool files in the store."""
    return [int(name[1:]) for name in get_store(app).children("spool") if name[:1] == "r" and name[1:].isdigit()]


def sweep_incomplete(app: Flask | None = None) -> int:
    return get_store(app).sweep_incomplete(INCOMPLETE_AFTER_SECONDS)
