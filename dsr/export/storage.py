"""Where export files live under DSR_STORAGE_DIR, and the key that seals them."""
from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask, current_app

from dsr.bundle.sealed import master_key


def storage_root(app: Flask | None = None) -> Path:
    return Path((app or current_app).config["STORAGE_DIR"])


def sealing_key(app: Flask | None = None) -> bytes:
    return master_key((app or current_app).config["ENCRYPTION_KEY"])


def request_spool(request_id: int, app: Flask | None = None) -> Path:
    return storage_root(app) / "spool" / f"r{int(request_id)}"


def task_spool(request_id: int, task_id: int, attempt: int, app: Flask | None = None) -> Path:
    return request_spool(request_id, app) / f"t{int(task_id)}-a{int(attempt)}"


def upload_path(request_id: int, task_id: int, app: Flask | None = None) -> Path:
    return request_spool(request_id, app) / f"t{int(task_id)}-upload.sealed"


def bundles_dir(app: Flask | None = None) -> Path:
    path = storage_root(app) / "bundles"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def remove_request_spool(request_id: int, app: Flask | None = None) -> None:
    shutil.rmtree(request_spool(request_id, app), ignore_errors=True)
