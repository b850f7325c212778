"""`flask dsr deadline RECEIVED_AT`: one line for the configured controller, exit 2 for unreadable input,
and it needs no database (it works from a fresh clone)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dsr import REPO_ROOT


@pytest.mark.parametrize(
    ("received", "line"),
    [
        ("2025-01-31T10:00:00+01:00", "due 2025-02-28 extended 2025-04-30"),  # month end
        ("2024-01-31T10:00:00+01:00", "due 2024-02-29 extended 2024-04-30"),  # 29 February
        ("2026-03-03T10:00:00+01:00", "due 2026-04-07 extended 2026-06-03"),  # Easter
        ("2028-04-17T10:00:00+02:00", "due 2028-05-18 extended 2028-07-17"),  # 17 May
        ("2025-11-25T10:00:00+01:00", "due 2025-12-29 extended 2026-02-25"),  # Christmas
        ("2026-08-05T10:00:00+02:00", "due 2026-09-07 extended 2026-11-05"),  # a Saturday
        ("2026-03-04T22:59:00Z", "due 2026-04-07 extended 2026-06-04"),  # 23:59 in Oslo
        ("2026-06-10T22:01:00Z", "due 2026-07-13 extended 2026-09-11"),  # 00:01 in Oslo, the next day
        ("2026-10-25T01:30:00Z", "due 2026-11-25 extended 2027-01-25"),  # the second 02:30 of the DST night
    ],
)
def test_prints_one_line(runner, received, line):
    result = runner.invoke(args=["dsr", "deadline", received])
    assert result.exit_code == 0, result.output
    assert result.output == line + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "not an ISO 8601 date and time"),
        ("2026-02-30T10:00:00Z", "not an ISO 8601 date and time"),
        ("2026-01-31", "has no UTC offset"),
        ("2026-01-31T10:00:00", "has no UTC offset"),
        ("", "give the time of receipt"),
    ],
)
def test_unreadable_input_is_a_clear_error_and_exit_2(runner, text, message):
    result = runner.invoke(args=["dsr", "deadline", text])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output


def test_works_from_a_fresh_instance_without_a_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    env["DSR_INSTANCE_PATH"] = str(tmp_path / "instance")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "dsr", "deadline", "2026-01-31T10:00:00+01:00"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (0, "due 2026-03-02 extended 2026-04-30\n"), result.stderr
    assert not (tmp_path / "instance" / "dsr.sqlite3").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "dsr", "deadline", "soon"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "not an ISO 8601 date and time" in bad.stderr
