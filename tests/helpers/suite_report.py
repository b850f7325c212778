"""What the suite ran, in one line a person can check at a glance, and a failed run for any skip
nobody declared (a suite that reports green while running nothing is the worst defect there is).

    tests: 523 passed, 0 failed; skipped: 9 browser (no Chromium), 4 fault (server pass only)

`DSR_TEST_ALLOWED_SKIPS` (space-separated kinds, default: every declared kind) narrows what may be
skipped, e.g. in .ci/run's server pass. With `DSR_TEST_REPORT=path` the counts are also written there
as JSON, and the line is left to `manage.py test`, which prints it last.
"""
from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from tests.helpers.skips import SKIP_KINDS, kind_of


class SuiteReport:
    def __init__(self, allowed: set[str]):
        self.allowed = allowed
        self.collected = 0
        self.passed: set[str] = set()
        self.failed: set[str] = set()
        self.skipped: dict[str, str] = {}  # nodeid -> kind ("" for an undeclared reason)
        self.unexpected: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.failed.add(report.nodeid or "collection")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(report.nodeid)
            self.passed.discard(report.nodeid)
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            if hasattr(report, "wasxfail"):
                reason = f"xfail: {report.wasxfail}"
            kind = kind_of(reason)
            self.skipped[report.nodeid] = kind or ""
            if kind is None or kind not in self.allowed:
                self.unexpected.append(f"{report.nodeid}: {reason}")
        elif report.when == "call" and report.nodeid not in self.failed:
            self.passed.add(report.nodeid)

    def line(self) -> str:
        counts = Counter(kind for kind in self.skipped.values())
        parts = [f"{n} {kind} ({SKIP_KINDS[kind]})" for kind, n in sorted(counts.items()) if kind]
        if counts.get(""):
            parts.append(f"{counts['']} for an undeclared reason")
        return (f"tests: {len(self.passed)} passed, {len(self.failed)} failed; "
                f"skipped: {', '.join(parts) if parts else 'none'}")

    def as_json(self, exitstatus: int) -> dict:
        return {"collected": self.collected, "passed": len(self.passed), "failed": len(self.failed),
                "skipped": len(self.skipped), "unexpected": self.unexpected, "line": self.line(),
                "exitstatus": int(exitstatus)}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.unexpected and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        path = os.environ.get("DSR_TEST_REPORT")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                json.dump(self.as_json(session.exitstatus), out)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.unexpected:
            terminalreporter.section("skips nobody declared (these fail the run)", red=True)
            for entry in self.unexpected:
                terminalreporter.line(entry)
        if not os.environ.get("DSR_TEST_REPORT"):
            terminalreporter.line(self.line(), bold=True)


def pytest_configure(config: pytest.Config) -> None:
    wanted = os.environ.get("DSR_TEST_ALLOWED_SKIPS")
    allowed = set(wanted.split()) if wanted is not None else set(SKIP_KINDS)
    config.pluginmanager.register(SuiteReport(allowed), "dsr-suite-report")
