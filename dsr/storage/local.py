"""The local folder store (DSR_STORAGE_DIR): folders 0700, files 0600, written to a temporary name,
fsynced and renamed, so no partial file is ever visible under its own name."""
from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

from dsr.storage import WriterBase, check_key

TEMP_PREFIX = ".tmp-"


class LocalWriter(WriterBase):
    def __init__(self, final: Path):
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.final = final
        self.temp = final.with_name(f"{TEMP_PREFIX}{secrets.token_hex(4)}-{final.name}")
        self._file = os.fdopen(os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        self.done = False

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def commit(self) -> None:
        """fsync the file, rename it into place, fsync the folder: durable, and never partly visible."""
        if self.done:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.temp, self.final)
        folder = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self.done = True

    def abort(self) -> None:
        if not self.done:
            self._file.close()
            self.temp.unlink(missing_ok=True)
            self.done = True


class LocalStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.description = f"the folder {self.root}"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str) -> LocalWriter:
        return LocalWriter(self.path(key))

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def children(self, prefix: str) -> list[str]:
        folder = self.path(prefix)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def sweep_incomplete(self, older_than_seconds: float) -> int:
        """Temporary files a killed process left behind."""
        cutoff, removed = time.time() - older_than_seconds, 0
        for temp in self.root.rglob(f"{TEMP_PREFIX}*") if self.root.is_dir() else ():
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
