"""A partial bundle is not the end: released while a system failed, it is part 1; the case stays open for that
system with the request's own due date, the letter says the rest follows and by when, and once the system is
retried successfully a second bundle with only that system is assembled, reviewed and released the same way.
Real jobs on the demo systems (the support chat's API failing, then back), staff through the real pages."""
from __future__ import annotations

import re

import pytest
from babel.dates import format_date

from dsr.models import BundleStatus, RequestStatus, SubjectRequest, TaskState
from tests.helpers.bundles import archive_of, bundles_of, collected, officer_client, page_text, verified_case
from tests.helpers.export import KARI, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import text_of


@pytest.fixture
def first_part_released(smtp, demo_app, demo_session, chat):
    """Kari's access case with the support chat failing for good: staff assemble a partial bundle and release
    it through the case pages."""
    chat.always_fail = True
    staff = officer_client(demo_app, demo_session)
    case = collected(demo_app, demo_session, verified_case(demo_app, demo_session, KARI), staff.user.id)
    assert tasks_by_system(demo_session, case.id)["support_chat"].state is TaskState.FAILED
    assert staff.post(f"/staff/cases/{case.id}/bundle/partial").status_code == 302
    run_jobs(demo_app)
    assert staff.post(f"/staff/cases/{case.id}/bundle/release").status_code == 302
    run_jobs(demo_app)
    demo_session.expire_all()
    return demo_session.get(SubjectRequest, case.id), staff


def test_releasing_a_partial_bundle_keeps_the_case_open_with_its_due_date_and_the_letter_says_so(
        smtp, demo_app, demo_session, first_part_released):
    case, staff = first_part_released
    assert case.status is RequestStatus.IN_PROGRESS and case.closed_at is None
    [first] = bundles_of(demo_session, case.id)
    assert (first.status, first.part, first.partial) == (BundleStatus.RELEASED, 1, True)
    assert "support_chat" not in first.systems and "crm" in first.systems

    due = format_date(case.deadline_on, "long", locale="en")
    letter = text_of(smtp.wait_for(KARI)[-1]).replace("\r\n", "\n")
    assert "Support chat could not be searched in time. Your request stays open for it" in letter
    assert f"in a second file by {due} at the latest" in letter
    index = page_text(archive_of(demo_session, first, staff.user.id), "index.html")
    assert "Support chat could not be searched in time. Your request stays open for it" in index and due in index

    page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    line = page_text_of(page, "Rest of the answer")
    assert "Support chat" in line and str(case.deadline_on) in line
    assert "Retry this system" in page


def test_a_retried_system_is_answered_by_a_second_bundle_with_only_that_system(
        smtp, demo_app, demo_session, chat, first_part_released):
    case, staff = first_part_released
    chat.always_fail = False
    task = tasks_by_system(demo_session, case.id)["support_chat"]
    assert staff.post(f"/staff/cases/{case.id}/tasks/{task.id}/retry").status_code == 302
    run_jobs(demo_app)
    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).status is RequestStatus.READY_FOR_REVIEW
    first, second = bundles_of(demo_session, case.id)
    assert (second.part, second.partial, second.status, second.systems) == (
        2, False, BundleStatus.READY_FOR_REVIEW, ["support_chat"])
    archive = archive_of(demo_session, second, staff.user.id)
    assert {name.split("/")[1] for name in archive.namelist() if name.startswith("data/")} == {"support_chat"}
    index = page_text(archive, "index.html")
    assert "This is part 2 of our answer to your request." in index and "Customer register (CRM)" in index

    assert staff.post(f"/staff/cases/{case.id}/bundle/release").status_code == 302
    run_jobs(demo_app)
    demo_session.expire_all()
    assert demo_session.get(SubjectRequest, case.id).status is RequestStatus.COMPLETED
    letter = text_of(smtp.wait_for(KARI, count=2)[-1])
    assert "The rest of the copy of your data" in letter and "We found data about you in: Support chat." in letter


def test_staff_cannot_release_an_empty_second_part_while_the_system_still_fails(
        demo_app, demo_session, first_part_released):
    case, staff = first_part_released
    page = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Assemble a partial bundle…" not in page
    staff.post(f"/staff/cases/{case.id}/bundle/partial")
    assert len(bundles_of(demo_session, case.id)) == 1


def page_text_of(html: str, marker: str) -> str:
    """The text of the paragraph holding `marker` (tags removed)."""
    start = html.index(marker)
    return " ".join(re.sub(r"<[^>]+>", " ", html[start:html.index("</p>", start)]).split())
