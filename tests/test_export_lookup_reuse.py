"""The export reuses what the intake lookup found: a system where the subject was found is not asked to
locate them again; one whose lookup failed or found nothing is located again by the export job."""
from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from dsr.connectors.registry import get_systems
from dsr.identity.lookup import locate_subject
from dsr.models import RequestStatus, Right, SubjectLocation, SubjectRequest, TaskState
from tests.helpers.export import KARI, approve, tasks_by_system
from tests.helpers.jobs import run_jobs


def _count_locates(monkeypatch, app) -> Counter:
    calls: Counter = Counter()
    for key, system in get_systems(app).items():
        original = system.connector.locate

        def counting(identity, key=key, original=original):
            calls[key] += 1
            return original(identity)

        monkeypatch.setattr(system.connector, "locate", counting)
    return calls


def test_the_export_skips_locate_where_the_lookup_found_the_subject(demo_app, demo_session, chat, monkeypatch):
    session = demo_session
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ACCESS, language="en")
    session.add(request)
    session.commit()
    chat.always_fail = True  # the chat API is down during the lookup: its row holds the error
    with demo_app.app_context():
        assert locate_subject(session, request.id, final_attempt=True)
    session.commit()
    chat.always_fail = False
    rows = {row.system_key: row for row in session.scalars(
        sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id))}
    assert rows["support_chat"].error and rows["crm"].found and rows["newsletter"].found
    rows["newsletter"].found, rows["newsletter"].ref = False, {**rows["newsletter"].ref, "keys": {}}
    session.commit()  # as if the newsletter had held nothing at intake (the subject signed up since)

    calls = _count_locates(monkeypatch, demo_app)
    with demo_app.app_context():
        approve(session, request)
    run_jobs(demo_app)

    tasks = tasks_by_system(session, request.id)
    assert {k: t.state for k, t in tasks.items()} == {
        "crm": TaskState.DONE, "accounting": TaskState.DONE, "newsletter": TaskState.DONE,
        "support_chat": TaskState.DONE, "mailbox": TaskState.WAITING_FOR_STAFF}
    # Found at intake: not located again. Errored or found nothing: located by the export job, once.
    assert calls == Counter({"support_chat": 1, "newsletter": 1})
    assert tasks["crm"].result["ref"] == rows["crm"].ref and tasks["crm"].records == 6
    assert tasks["support_chat"].records > 0 and tasks["newsletter"].records > 0
