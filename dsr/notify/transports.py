"""Mail over SMTP or into `.eml` files; SMS over an HTTP gateway or into `sms.log`.

Transports raise `PermanentDeliveryError` for what retrying cannot fix (a refused
recipient, a header with CR/LF) and `TransientDeliveryError` for what it may.
"""
from __future__ import annotations

import fcntl
import os
import smtplib
import ssl
import tempfile
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
        self.outbox.mkdir(parents=True, exist_ok=True)
        target = self.outbox / f"{file_stem}.eml"
        # Written whole, then renamed: a reader never sees half a mail.
        fd, temp = tempfile.mkstemp(dir=self.outbox, prefix=".tmp-", suffix=".eml")
        with os.fdopen(fd, "wb") as fh:
            fh.write(message.as_bytes())
        os.replace(temp, target)
        return target


class SmsTransport:
    def __init__(self, config):
        self.url = config.get("SMS_URL")
        self.token = config.get("SMS_TOKEN")
        self.timeout = float(config.get("SMTP_TIMEOUT") or 10)
        self.outbox = Path(config["OUTBOX_DIR"])

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
        self.outbox.mkdir(parents=True, exist_ok=True)
        path = self.outbox / "sms.log"
        line = f"{datetime.now(UTC).isoformat(timespec='seconds')}\t{message_key}\t{to}\t{' '.join(text.split())}\n"
        with open(path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # web and worker may append at once
            fh.write(line)
        return str(path)
