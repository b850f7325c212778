"""Demo data for the run command: a staff account, and the demo connected systems.

The demo account is made like any other (`dsr.auth.accounts.create_staff`): its one-time password is
returned once, when the account is made, must be replaced at the first login, and is never stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from dsr.audit.service import record
from dsr.auth.accounts import create_staff, end_sessions, find_by_email
from dsr.auth.passwords import verify_password
from dsr.db import get_db
from dsr.demo_systems.build import ensure_demo_data
from dsr.models import StaffRole

DEMO_STAFF_EMAIL = "officer@fjordnett.example"
#: where versions before issue 13 kept the demo password in clear (and printed it at every start)
LEGACY_CREDENTIALS = "demo-staff.txt"


@dataclass(frozen=True)
class DemoInfo:
    staff_email: str
    one_time_password: str | None  # only when the account was made just now; None ever after


def load_demo(app: Flask) -> DemoInfo:
    """Idempotent: a second run finds everything in place and only reports it."""
    password = None
    with get_db(app).session() as session:
        user = find_by_email(session, DEMO_STAFF_EMAIL)
        if user is None:
            user, password = create_staff(session, email=DEMO_STAFF_EMAIL, role=StaffRole.ADMIN,
                                          display_name="Demo Officer", actor_type="system", actor_id="demo")
        _retire_legacy_password(session, user, Path(app.instance_path) / LEGACY_CREDENTIALS)
        session.commit()
    ensure_demo_data(Path(app.instance_path))  # the demo systems' databases and files (skipped once there)
    return DemoInfo(staff_email=DEMO_STAFF_EMAIL, one_time_password=password)


def _retire_legacy_password(session, user, credentials: Path) -> None:
    """A password an older version printed at every start must be replaced at the next login."""
    if not credentials.exists():
        return
    lines = credentials.read_text().split()
    if len(lines) >= 2 and not user.must_change_password and verify_password(user.password_hash, lines[1]):
        user.must_change_password = True
        end_sessions(user)
        record(session, "staff.password_expired", actor_type="system", actor_id="demo", staff_id=user.id)
    credentials.unlink()
