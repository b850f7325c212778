"""Demo data for the run command: a staff account (printed), and the demo connected systems."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from dsr.auth.passwords import hash_password
from dsr.db import get_db
from dsr.demo_systems.build import ensure_demo_data
from dsr.models import StaffRole, StaffUser

DEMO_STAFF_EMAIL = "officer@fjordnett.example"


@dataclass(frozen=True)
class DemoInfo:
    staff_email: str
    staff_password: str


def load_demo(app: Flask) -> DemoInfo:
    """Idempotent: a second run finds everything in place and only reports it."""
    credentials = Path(app.instance_path) / "demo-staff.txt"
    with get_db(app).session() as session:
        user = session.scalar(sa.select(StaffUser).where(StaffUser.email == DEMO_STAFF_EMAIL))
        if user is None or not credentials.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                user = StaffUser(email=DEMO_STAFF_EMAIL, display_name="Demo Officer", role=StaffRole.ADMIN)
                session.add(user)
            user.password_hash = hash_password(password)
            user.must_change_password = False
            _write_private(credentials, f"{DEMO_STAFF_EMAIL}\n{password}\n")
            session.commit()
    ensure_demo_data(Path(app.instance_path))  # the demo systems' databases and files (skipped once there)
    email, password = credentials.read_text().split()[:2]
    return DemoInfo(staff_email=email, staff_password=password)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
