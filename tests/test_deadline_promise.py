"""Issue 15: a controller's stricter promise. `answer_within_days = 30` in [controller] makes the due date the
earlier of receipt + 30 days and the law's month; the extension stays the law's. Received 1 December 2026, the
request is due 31 December 2026, not 4 January 2027 (the law's month, moved by New Year's Day and a weekend)."""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from dsr import REPO_ROOT
from dsr.controller import SystemsFileError, load_systems_file
from dsr.deadlines.rules import Pause, compute_deadlines
from dsr.models import SubjectRequest
from tests.helpers.answers import officer_client
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import mails_to, text_of
from tests.helpers.people import file_request

OSLO_WINTER, OSLO_SUMMER = timezone(timedelta(hours=1)), timezone(timedelta(hours=2))
EXAMPLE = (REPO_ROOT / "instance" / "systems.example.toml").read_text()
PROMISE_LINE = 'default_language = "nb"\nanswer_within_days = {}'


def promising(days: object) -> str:
    return EXAMPLE.replace('default_language = "nb"', PROMISE_LINE.format(days))


def test_received_1_december_2026_is_due_31_december_not_4_january():
    received = datetime(2026, 12, 1, 10, tzinfo=OSLO_WINTER)
    law = compute_deadlines(received)
    promise = compute_deadlines(received, promised_days=30)
    assert law.due_on == date(2027, 1, 4)  # 1 January is a holiday, then a weekend
    assert (promise.due_on, promise.legal_due_on, promise.promised_days) == (date(2026, 12, 31), date(2027, 1, 4), 30)
    # The extension stays the law's: announced within the law's month, to receipt + 3 months.
    assert (promise.extension_notice_due_on, promise.extended_due_on) == (date(2027, 1, 4), law.extended_due_on)


def test_a_promise_longer_than_the_month_changes_nothing():
    received = datetime(2025, 1, 31, 10, tzinfo=OSLO_WINTER)  # the month ends 28 February, 28 days later
    deadlines = compute_deadlines(received, promised_days=30)
    assert deadlines.due_on == deadlines.legal_due_on == date(2025, 2, 28) and not deadlines.promise_binds


def test_a_pause_moves_the_promised_date_too():
    received = datetime(2026, 8, 1, 10, tzinfo=OSLO_SUMMER)
    pause = Pause(datetime(2026, 8, 3, 9, tzinfo=OSLO_SUMMER), datetime(2026, 8, 4, 9, tzinfo=OSLO_SUMMER))
    assert compute_deadlines(received, promised_days=30).due_on == date(2026, 8, 31)
    paused = compute_deadlines(received, promised_days=30, pauses=[pause])
    assert (paused.due_on, paused.legal_due_on) == (date(2026, 9, 1), date(2026, 9, 2))


@pytest.mark.parametrize("value", ["0", "32", '"30"', "30.5", "true", "-1"])
def test_a_wrong_promise_names_the_file_the_line_and_the_key(tmp_path, value):
    path = tmp_path / "systems.toml"
    text = promising(value)
    path.write_text(text)
    with pytest.raises(SystemsFileError) as caught:
        load_systems_file(path)
    line = text.splitlines().index(f"answer_within_days = {value}") + 1
    assert (caught.value.key, caught.value.line) == ("controller.answer_within_days", line)
    assert f"{path}, line {line}, key 'controller.answer_within_days'" in str(caught.value)
    assert "whole number of days from 1 to 31" in str(caught.value)


def test_the_deadline_command_prints_the_promised_date_and_the_laws(tmp_path):
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "systems.toml").write_text(promising(30))
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "dsr", "deadline", "2026-12-01T10:00:00+01:00"],
        cwd=REPO_ROOT, env={"PATH": "/usr/bin:/bin", "DSR_INSTANCE_PATH": str(tmp_path / "instance")},
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("due 2026-12-31 extended 2027-03-01 "
                             "(promised within 30 days; the law's month ends 2027-01-04)\n")


@pytest.fixture
def app_config(app_config, tmp_path):
    path = tmp_path / "promise" / "systems.toml"
    path.parent.mkdir()
    path.write_text(promising(30))
    app_config["SYSTEMS_FILE"] = str(path)
    return app_config


def test_the_received_page_the_letter_and_the_staff_page_give_the_promised_date(app, client, session):
    with time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=True):
        assert file_request(client, "access", email="promise@example.org", lang="en").status_code == 303
        page = client.get("/request/received").get_data(as_text=True)
        run_jobs(app)
        staff, _ = officer_client(app, session)
        case = session.scalars(sa.select(SubjectRequest)).one()
        box = staff.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    promise = ("We promise to answer within 30 days, by December 31, 2026 (the law would give us until "
               "January 4, 2027).")
    assert promise in page
    letter = text_of(mails_to(app, "promise@example.org")[0])
    assert "we promise to answer within 30 days, by December 31, 2026 (the law would give us until " \
           "January 4, 2027)" in letter
    assert (case.due_on, case.deadline_on, case.extension_notice_due_on) == (
        date(2026, 12, 31), date(2026, 12, 31), date(2027, 1, 4))
    assert "<dt>Due</dt><dd>2026-12-31" in box and "the law's month ends 2027-01-04" in box
