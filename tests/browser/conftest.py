"""The browser harness: the real portal served over HTTP, a real worker process, a real SMTP server,
and Debian's Chromium driven by Playwright. Screenshots go to test-artifacts/screenshots/<test>/.

Tests here are marked `browser` by their folder and skipped when /usr/bin/chromium is missing (see
tests/conftest.py).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from dsr import REPO_ROOT, create_app
from dsr.db import get_db
from tests.conftest import CHROMIUM
from tests.helpers.jobs import free_port, spawn_worker, stop_worker
from tests.helpers.mail import SmtpSink, text_of
from tests.helpers.staff import PASSWORD, fresh_code

ARTIFACTS = REPO_ROOT / "test-artifacts" / "screenshots"
# As the machine notes say: without the background-networking flags Chromium keeps trying to reach
# Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SERIOUS = {"serious", "critical"}


@dataclass
class Portal:
    """A running portal: its base URL, its app (for arranging and asserting), its mailbox."""

    url: str
    app: object
    smtp: SmtpSink
    outbox: Path
    worker_log: Path

    def sms_lines(self) -> list[str]:
        path = self.outbox / "sms.log"
        return path.read_text().splitlines() if path.exists() else []

    def latest_mail_text(self, address: str, count: int = 1, timeout: float = 30) -> str:
        return text_of(self.smtp.wait_for(address, count=count, timeout=timeout)[count - 1])

    def session(self):
        return get_db(self.app).session()


def staff_login(page, portal: Portal, email: str, secret: str) -> None:
    """Log a staff member with TOTP enrolled in through the login and code pages."""
    page.goto(f"{portal.url}/staff/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/staff/login/code")
    # From the code step on, the pages speak the language the staff member chose.
    page.get_by_label(re.compile("6-digit code|Sekssifret kode")).fill(fresh_code(secret))
    page.get_by_role("button", name=re.compile("^(Log in|Logg inn)$")).click()
    page.wait_for_url("**/staff/")


def six_digit_code(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match, f"no 6-digit code in: {text[:300]!r}"
    return match.group(1)


@pytest.fixture
def portal_config(app_config):
    """Edit before `portal` starts: the live server runs with CSRF on, as in production."""
    app_config.update(WTF_CSRF_ENABLED=True, RATE_LIMITS={name: "1000/60" for name in (
        "intake_ip", "intake_address", "code_entry_ip", "resend_ip", "login_account", "login_ip", "download_ip")})
    return app_config


@pytest.fixture
def portal(portal_config, tmp_path):
    smtp = SmtpSink().start()
    port = free_port()
    portal_config.update(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, BASE_URL=f"http://127.0.0.1:{port}")
    app = create_app(portal_config)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    worker_log = tmp_path / "worker.log"
    worker = spawn_worker(app, worker_log)
    try:
        yield Portal(url=f"http://127.0.0.1:{port}", app=app, smtp=smtp, outbox=Path(app.config["OUTBOX_DIR"]),
                     worker_log=worker_log)
    finally:
        stop_worker(worker)
        server.shutdown()
        thread.join(5)
        smtp.stop()
        get_db(app).dispose()


@pytest.fixture(scope="session")
def browser():
    # optional dependency, imported here: Playwright's driver starts only when a browser test runs
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


@dataclass
class Shots:
    folder: Path
    taken: list[Path] = field(default_factory=list)

    def __call__(self, page, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def shots(request) -> Shots:
    return Shots(ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    violations: list[str] = []
    # The CSP allows no inline script or style: a violation is a bug the browser would hide from us.
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.csp_violations = violations
    yield page
    context.close()


def assert_accessible(page, label: str = "") -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    # optional dependency (axe-playwright-python), needed only by the accessibility checks of browser tests
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    assert not bad, f"{label or page.url}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad)
