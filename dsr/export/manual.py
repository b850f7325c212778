"""Manual systems: a case handler searched (a mailbox, an archive) and uploads what was found,
or confirms that nothing was. The upload is sealed at rest and goes into the bundle as a file."""
from __future__ import annotations

import os
import re
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.bundle.sealed import SealedWriter
from dsr.bundle.spool import PURPOSE
from dsr.cases.labels import label
from dsr.db import utcnow
from dsr.export import storage
from dsr.export.assembly import defer_assembly_if_complete
from dsr.models import SystemTask, TaskAction, TaskState
from dsr.tasks.pipeline import lock_request
from dsr.tasks.states import TASK_STATES, TaskEvent

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ManualTaskError(ValueError):
    """The completion is not possible as asked; the message says why (shown to staff)."""


def safe_filename(name: str | None) -> str:
    base = _UNSAFE.sub("-", os.path.basename(name or "")).strip(".-")[:80]
    return f"upload-{base or 'file'}"


def complete_manual_task(session: orm.Session, task_id: int, staff_id: int, *, nothing_found: bool,
                         upload: BinaryIO | None = None) -> SystemTask:
    """Finish a manual system's task: with `upload` (a file object; a `.filename` is used when present),
    or with `nothing_found=True`. The caller commits."""
    task = session.get(SystemTask, task_id)
    if task is None or task.action is not TaskAction.EXPORT:
        raise ManualTaskError(_("no such task"))
    if task.state is not TaskState.WAITING_FOR_STAFF:
        raise ManualTaskError(_("this task is %(state)s, not waiting for staff",
                                 state=label(task.state)))
    if nothing_found == (upload is not None):
        raise ManualTaskError(_("either upload what was found, or confirm that nothing was found"))
    lock_request(session, task.request_id)
    result = {"nothing_found": nothing_found, "completed_by": staff_id}
    if upload is not None:
        result["upload"] = _store(task, upload)
    task.state = TASK_STATES.target(task.state, TaskEvent.STAFF_DONE)
    task.records = 0 if nothing_found else 1
    task.finished_at = utcnow()
    task.result = {**(task.result or {}), **result}
    record(session, "export.manual_completed", actor_type="staff", actor_id=staff_id, request_id=task.request_id,
           system=task.system_key, nothing_found=nothing_found,
           sha256=result.get("upload", {}).get("sha256"))
    session.flush()
    defer_assembly_if_complete(session, task.request_id)
    return task


def _store(task: SystemTask, upload: BinaryIO) -> dict:
    limit = int(current_app.config["MANUAL_UPLOAD_MAX_BYTES"])
    stream = getattr(upload, "stream", upload)
    # Whole or not at all: a file too large (or a failure) leaves nothing under the upload's key.
    with storage.get_store().writer(storage.upload_key(task.request_id, task.id)) as raw, \
            SealedWriter(raw, storage.sealing_key(), PURPOSE) as sealed:
        while chunk := stream.read(1 << 20):
            if sealed.size + len(chunk) > limit:
                raise ManualTaskError(_("the file is larger than %(size)d MB", size=limit // 1_000_000))
            sealed.write(chunk)
    return {"filename": safe_filename(getattr(upload, "filename", None)), "size": sealed.size,
            "sha256": sealed.sha256.hexdigest()}

