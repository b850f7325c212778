"""Rotating DSR_ENCRYPTION_KEY: values sealed with an earlier key (now in DSR_ENCRYPTION_KEY_FALLBACKS)
are sealed again with the current one, so the earlier key can be dropped without losing them.

Only small values need it — the staff's TOTP seeds and one-time secrets still waiting for their
message. Sealed files (bundles, spools, uploads) are not rewritten: they open with any listed key and
are gone within DSR_BUNDLE_EXPIRY_DAYS (bundles are deleted at expiry, spools once assembled).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.crypto import reseal
from dsr.models import Message, StaffUser


def reseal_values(session: orm.Session) -> dict[str, int]:
    """Seal every TOTP seed and waiting one-time secret with the current key (the caller commits).
    A value no listed key opens is left as it is and counted as `unreadable` (its key was dropped
    too early: that staff member enrols TOTP again; a lost one-time secret is sent anew)."""
    counts = {"totp_seeds": 0, "message_secrets": 0, "unreadable": 0}
    rows = [(user, "totp_secret_sealed", "totp_seeds") for user in session.scalars(
        sa.select(StaffUser).where(StaffUser.totp_secret_sealed.is_not(None)))]
    rows += [(message, "secret_sealed", "message_secrets") for message in session.scalars(
        sa.select(Message).where(Message.secret_sealed.is_not(None)))]
    for row, column, kind in rows:
        try:
            setattr(row, column, reseal(getattr(row, column)))
        except ValueError:
            counts["unreadable"] += 1
            continue
        counts[kind] += 1
    session.flush()
    return counts
