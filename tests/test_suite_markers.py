"""The suite marks by folder, never by accident: a marker leaking onto every test once turned the README's
test command into 536 skips and a green exit on a machine without Chromium."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from dsr import REPO_ROOT


def _collected_markers(tmp_path) -> dict[str, set[str]]:
    listing = tmp_path / "markers.json"
    env = {**os.environ, "DSR_MARKER_LISTING": str(listing)}
    env.pop("DSR_TEST_REPORT", None)  # this inner run must not overwrite the outer run's report
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "tests.helpers.marker_listing",
                           "tests"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {nodeid: set(names) for nodeid, names in json.loads(listing.read_text()).items()}


def test_exactly_the_browser_folder_is_marked_browser_and_the_fault_folder_and_timing_tests_fault(tmp_path):
    markers = _collected_markers(tmp_path)
    assert len(markers) > 400  # the whole suite was collected

    browser = {nodeid for nodeid, names in markers.items() if "browser" in names}
    assert browser and browser == {nodeid for nodeid in markers if nodeid.startswith("tests/browser/")}

    fault = {nodeid for nodeid, names in markers.items() if "fault" in names}
    assert fault and fault == {nodeid for nodeid in markers if nodeid.startswith("tests/fault/")}

    timing = {nodeid for nodeid, names in markers.items() if "timing" in names}
    assert timing and timing == {nodeid for nodeid in markers if nodeid.startswith("tests/test_timing.py::")}

    # Everything else runs on any machine, in the first pass.
    plain = [nodeid for nodeid, names in markers.items() if not names & {"browser", "fault", "timing"}]
    assert len(plain) >= 0.8 * len(markers)
