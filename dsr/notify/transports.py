"""Mail over SMTP or into `.eml` files; SMS over an HTTP gateway or into `sms.log`.

Transports raise `PermanentDeliveryError` for what retrying cannot fix (a refused
recipient, a header with CR/LF) and `TransientDeliveryError` for what it may.

The file outbox holds one-time codes and ZIP passwords in clear, so it is the owner's alone (the
folder 0700, every file 0600, whatever the umask), `sms.log` is rotated to `sms-YYYYMMDD.log` when a
new (UTC) day begins, and mails and rotated logs older than OUTBOX_KEEP_DAYS are deleted.
"""
from __future__ import annotations

import fcntl
import os
import re
import smtplib
import ssl
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import httpx


class DeliveryError(Exception):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class TransientDeliveryError(DeliveryError):
    pass


def _header_safe(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PermanentDeliveryError(f"{name} contains a line break")
    return value


def build_email(*, sender: str, to: str, subject: str, text: str, html: str | None,
                message_key: str, domain: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = _header_safe("From", sender)
    message["To"] = _header_safe("To", to)
    message["Subject"] = _header_safe("Subject", subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    # Stable per message: a retried send after a crash is recognisable as the same mail.
    message["Message-ID"] = f"<{message_key}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


class MailTransport:
    def __init__(self, config):
        self.host = config.get("SMTP_HOST")
        self.port = int(config.get("SMTP_PORT") or 25)
        self.user = config.get("SMTP_USER")
        self.password = config.get("SMTP_PASSWORD")
        self.starttls = bool(config.get("SMTP_STARTTLS"))
        self.timeout = float(config.get("SMTP_TIMEOUT") or 10)
        self.outbox = Path(config["OUTBOX_DIR"])
        self.keep_days = float(config.get("OUTBOX_KEEP_DAYS", 7))

    def send(self, message: EmailMessage, file_stem: str) -> str:
        """Deliver; returns where it went ("smtp" or the .eml path)."""
        if not self.host:
            return str(self._write_file(message, file_stem))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError("the mail server refused the recipient") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentDeliveryError(f"the mail server refused the message ({exc.smtp_code})") from exc
            raise TransientDeliveryError(f"the mail server deferred the message ({exc.smtp_code})") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"mail server unreachable ({type(exc).__name__})") from exc
        if refused:
            raise PermanentDeliveryError("the mail server refused the recipient")
        return "smtp"

    def _write_file(self, message: EmailMessage, file_stem: str) -> Path:
        private_folder(self.outbox)
        target = self.outbox / f"{file_stem}.eml"
        # Written whole (mkstemp: 0600), then renamed: a reader never sees half a mail.
        fd, temp = tempfile.mkstemp(dir=self.outbox, prefix=".tmp-", suffix=".eml")
        with os.fdopen(fd, "wb") as fh:
            fh.write(message.as_bytes())
        os.replace(temp, target)
        prune_outbox_now_and_then(self.outbox, self.keep_days)
        return target


class SmsTransport:
    def __init__(self, config):
        self.url = config.get("SMS_URL")
        self.token = config.get("SMS_TOKEN")
        self.timeout = float(config.get("SMTP_TIMEOUT") or 10)
        self.outbox = Path(config["OUTBOX_DIR"])
        self.keep_days = float(config.get("OUTBOX_KEEP_DAYS", 7))

    def send(self, to: str, text: str, message_key: str) -> str:
        _header_safe("SMS number", to)
        if not self.url:
            return self._append_log(to, text, message_key)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.post(self.url, json={"to": to, "message": text, "reference": message_key},
                                  headers=headers, timeout=self.timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"SMS gateway unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientDeliveryError(f"SMS gateway error {response.status_code}")
        if response.status_code >= 300:
            raise PermanentDeliveryError(f"SMS gateway refused the message ({response.status_code})")
        return "gateway"

    def _append_log(self, to: str, text: str, message_key: str) -> str:
        private_folder(self.outbox)
        path = self.outbox / SMS_LOG
        line = f"{datetime.now(UTC).isoformat(timespec='seconds')}\t{message_key}\t{to}\t{' '.join(text.split())}\n"
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # web and worker may append, and rotate, at once
                opened = os.fstat(fh.fileno())
                if not _still_at(path, opened):
                    continue  # another process rotated it while we waited: append to the new one
                if opened.st_size and _utc_day(opened.st_mtime) != _utc_day(time.time()):
                    path.rename(_rotated_name(self.outbox, _utc_day(opened.st_mtime)))
                    continue
                os.fchmod(fh.fileno(), 0o600)  # a log written by an older version may be 0644
                fh.write(line)
                break
        prune_outbox_now_and_then(self.outbox, self.keep_days)
        return str(path)


SMS_LOG = "sms.log"
_ROTATED_SMS_LOG = re.compile(r"^sms-\d{8}(?:-\d+)?\.log$")


def private_folder(folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        folder.chmod(0o700)
    return folder


#: when this process last pruned each outbox folder (monotonic seconds)
_PRUNED_AT: dict[Path, float] = {}
PRUNE_EVERY_SECONDS = 60.0


def prune_outbox_now_and_then(outbox: Path, keep_days: float) -> None:
    """Prune after a write, at most once a minute per process: pruning reads every file's date, and a
    folder of a week's mail made that the largest cost of each mail sent (the retention job prunes too)."""
    now = time.monotonic()
    if now - _PRUNED_AT.get(outbox, -PRUNE_EVERY_SECONDS) >= PRUNE_EVERY_SECONDS:
        _PRUNED_AT[outbox] = now
        prune_outbox(outbox, keep_days)


def prune_outbox(outbox: Path, keep_days: float) -> int:
    """Delete mails and rotated SMS logs older than `keep_days`; returns how many."""
    cutoff, removed = time.time() - keep_days * 86400, 0
    for path in outbox.iterdir() if outbox.is_dir() else ():
        if path.suffix == ".eml" or _ROTATED_SMS_LOG.match(path.name):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another process pruned it first
                pass
    return removed


def _still_at(path: Path, opened: os.stat_result) -> bool:
    try:
        return os.stat(path).st_ino == opened.st_ino
    except FileNotFoundError:
        return False


def _utc_day(timestamp: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(timestamp))


def _rotated_name(outbox: Path, day: str) -> Path:
    target, n = outbox / f"sms-{day}.log", 1
    while target.exists():
        target, n = outbox / f"sms-{day}-{n}.log", n + 1
    return target
