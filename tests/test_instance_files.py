"""Nothing in the instance folder is readable by other users of the machine, the file outbox is rotated and
pruned, and a message that failed for good drops its sealed secret (issue 13, finding 7)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import stat
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from dsr import create_app
from dsr.crypto import seal
from dsr.models import DeliveryChannel, DeliveryStatus, Message, MessageDirection
from dsr.notify import transports
from dsr.notify.service import SECRET_PLACEHOLDER, deliver_message
from dsr.notify.transports import MailTransport, SmsTransport
from dsr.queue import defer
from tests.helpers.jobs import free_port, run_jobs, wait_until
from tests.test_run_command import _descendants, _get, _start


def _readable_by_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.lstat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            found.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(root.parent)}")
    return found


def _file_a_request(base: str, email: str) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/request/access?lang=en", timeout=10) as response:
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.read().decode()).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": email, "full_name": "", "phone": "",
                                   "intake_key": "k" * 32}).encode()
    request = urllib.request.Request(f"{base}/request/access/send?lang=en", data=data,
                                     headers={"Referer": f"{base}/request/access"})
    with opener.open(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.slow
def test_a_fresh_run_command_instance_holds_no_file_other_users_can_read(tmp_path):
    port = free_port()
    process, log_path = _start(tmp_path, port, "run.log")
    instance = tmp_path / "instance"
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz")[0] == 200, timeout=90, message="healthz 200")
        _file_a_request(f"http://127.0.0.1:{port}", "kari.nordmann@example.org")
        wait_until(lambda: list((instance / "outbox").glob("*.eml")), timeout=30, message="the letter on disk")
        assert (instance / "dsr.sqlite3").exists() and (instance / "secrets.json").exists()
        assert stat.S_IMODE(instance.stat().st_mode) == 0o700
        assert _readable_by_others(instance) == [], log_path.read_text()[-2000:]
        family = _descendants(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in family), timeout=10,
                   message="all children gone")
        assert _readable_by_others(instance) == []
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture
def open_umask():
    previous = os.umask(0o022)  # what most shells give: files 0644 unless made otherwise
    yield
    os.umask(previous)


def test_outbox_files_are_private_whatever_the_umask(tmp_path, open_umask):
    outbox = tmp_path / "outbox"
    config = {"OUTBOX_DIR": str(outbox), "OUTBOX_KEEP_DAYS": 7}
    SmsTransport(config).send("+4791234567", "123456 is your code", "dsr-msg-1")
    mail = EmailMessage()
    mail["To"], mail["Subject"] = "kari@example.org", "Your code"
    mail.set_content("123456")
    MailTransport(config).send(mail, "20261206T100000-000001-verification_code")
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    assert _readable_by_others(outbox) == []
    assert {p.name for p in outbox.iterdir()} == {"sms.log", "20261206T100000-000001-verification_code.eml"}


def test_the_sms_log_is_rotated_daily_and_old_outbox_files_are_pruned(tmp_path):
    outbox = tmp_path / "outbox"
    config = {"OUTBOX_DIR": str(outbox), "OUTBOX_KEEP_DAYS": 7}
    sms = SmsTransport(config)
    sms.send("+4791234567", "111111 is your code", "dsr-msg-1")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    old = datetime.now(UTC) - timedelta(days=8)
    os.utime(outbox / "sms.log", (yesterday.timestamp(), yesterday.timestamp()))
    stale_mail, stale_sms = outbox / "20261101T100000-000009-verification_code.eml", outbox / "sms-20261101.log"
    for path in (stale_mail, stale_sms):
        path.write_text("an old code: 999999")
        os.utime(path, (old.timestamp(), old.timestamp()))
    transports._PRUNED_AT.clear()  # a minute later: each process prunes at most once a minute
    sms.send("+4791234567", "222222 is your code", "dsr-msg-2")
    rotated = outbox / f"sms-{yesterday:%Y%m%d}.log"
    assert "111111" in rotated.read_text() and "111111" not in (outbox / "sms.log").read_text()
    assert "222222" in (outbox / "sms.log").read_text()
    assert not stale_mail.exists() and not stale_sms.exists()  # older than OUTBOX_KEEP_DAYS
    assert _readable_by_others(outbox) == []


def test_a_message_that_failed_for_good_drops_its_sealed_secret(smtp, app, session):
    smtp.refuse.add("kari@example.org")  # 550: a permanent failure
    with app.app_context():
        sealed = seal("482913")
    message = Message(direction=MessageDirection.TO_SUBJECT, channel=DeliveryChannel.EMAIL,
                      to_address="kari@example.org", subject_line="Your code", template="verification_code",
                      body_text=f"Your code is {SECRET_PLACEHOLDER}", secret_sealed=sealed)
    session.add(message)
    session.flush()

    defer(session, deliver_message, message.id)
    session.commit()
    run_jobs(app)
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored.status is DeliveryStatus.FAILED and stored.secret_sealed is None


def test_the_keep_days_setting_comes_from_the_environment(app_config, monkeypatch):
    monkeypatch.setenv("DSR_OUTBOX_KEEP_DAYS", "2")
    assert create_app(app_config).config["OUTBOX_KEEP_DAYS"] == 2
