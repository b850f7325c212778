"""The subject's access to their case page, as staff see and end it.

`dsr.identity.subject_access` writes a row when a browser proves the case (the codes, a letter's case
link, a fresh code); the rows live on the server, so ending them ends that access in every browser at
once, copied cookies included. Ending it is for when the subject's mailbox or device may be in other
hands: the subject proves the case again (a fresh code, and the SMS code before a download when the
case was opened with one).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from dsr.cases.decisions import record_staff
from dsr.db import utcnow
from dsr.models import CaseAccess, StaffUser, SubjectRequest


def _live(request: SubjectRequest):
    return (CaseAccess.request_id == request.id, CaseAccess.revoked_at.is_(None), CaseAccess.expires_at > utcnow())


def browsers_with_access(session: orm.Session, request: SubjectRequest) -> int:
    """How many browsers hold a proof of this case now (some may not have shown every factor yet)."""
    return session.scalar(sa.select(sa.func.count(sa.distinct(CaseAccess.browser))).where(*_live(request)))


def end_subject_access(session: orm.Session, request: SubjectRequest, *, actor: StaffUser) -> int:
    """End every browser's access to the case (audited); the number of browsers that had one."""
    browsers = browsers_with_access(session, request)
    session.execute(sa.update(CaseAccess)
                    .where(CaseAccess.request_id == request.id, CaseAccess.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    record_staff(session, "case.access_ended", actor, request, browsers=browsers)
    return browsers
